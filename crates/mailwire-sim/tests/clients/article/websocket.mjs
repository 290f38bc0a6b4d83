import WebSocket from "ws";
const ws = new WebSocket("wss://myagentmail.com/v1/ws", {
headers: { "X-API-Key": process.env.MYAGENTMAIL_API_KEY },
});
ws.on("open", () => {
console.log("Connected — listening for email events");
});
ws.on("message", (raw) => {
const event = JSON.parse(raw.toString());
switch (event.type) {
case "message.received":
handleInboundEmail(event.data);
break;
case "message.bounced":
handleBounce(event.data);
break;
case "message.delivered":
handleDeliveryConfirmation(event.data);
break;
}
});
ws.on("close", () => {
// Reconnect logic
setTimeout(connect, 1000);
});
