//! End-to-end tests: the real `knet` binary, the real `kubectl`, `curl` and kube-rs.

mod apiserver;
mod controllers;
mod dns;
mod echo;
mod ingress;
mod ingress_cases;
mod kube_client;
mod layout;
mod logs;
mod netns;
mod pod_io;
mod proxy;
mod seed;
