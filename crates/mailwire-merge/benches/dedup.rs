//! Dedup throughput and memory per id: the merge's `IdWindow` against a
//! `HashSet<String>` of the same ids. Filled in below.

fn main() {}
