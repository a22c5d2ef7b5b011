//! knet's ingress controller. This first part is the route table ([`routes`]): Ingress rules
//! compiled into an immutable structure that the server swaps atomically on every change.

pub mod routes;
