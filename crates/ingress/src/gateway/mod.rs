//! Gateway API on the ingress data path: the Gateways of GatewayClasses with skiff's
//! controllerName, and the HTTPRoutes attached to them, compiled into the same routing
//! table and certificate set as Ingresses.
//!
//! A Gateway's listener ports are not bound one by one: every HTTP listener is served on
//! the node's ingress HTTP port and every HTTPS listener on its ingress HTTPS port (80 and
//! 443 by default), the way every node serves every Ingress. A route attached only to
//! HTTPS listeners is not reachable over plain HTTP, and the other way round.
//!
//! [`attach`] decides which routes attach to which listeners (and why not), shared with
//! the controller that writes their status; [`compile`] turns attachments into routes.

pub mod attach;
pub mod compile;
pub mod types;

pub use attach::{attach, Attachments};
pub use types::{Gateway, GatewayClass, HttpRoute};

/// `spec.controllerName` of the GatewayClasses skiff serves.
pub const CONTROLLER: &str = "skiff.io/gateway-controller";
/// The GatewayClass the server creates at start.
pub const CLASS_NAME: &str = "skiff";

#[cfg(test)]
mod tests;
