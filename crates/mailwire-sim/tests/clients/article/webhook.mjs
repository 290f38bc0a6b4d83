// Express.js webhook handler
import express from "express";
import crypto from "crypto";
const app = express();
app.post("/webhooks/email", express.json(), (req, res) => {
// Verify the webhook signature
const signature = req.headers["x-signature"];
const expected = crypto
.createHmac("sha256", process.env.WEBHOOK_SECRET)
.update(JSON.stringify(req.body))
.digest("hex");
if (signature !== expected) {
return res.status(401).send("Invalid signature");
}
const event = req.body;
switch (event.type) {
case "message.received":
handleInboundEmail(event.data);
break;
case "message.bounced":
handleBounce(event.data);
break;
}
// Acknowledge receipt immediately
res.status(200).send("OK");
});
app.listen(3000);
