//! etcd's errors in the store's terms.
//!
//! etcd reports compaction and future revisions as gRPC `OutOfRange` with a fixed message and
//! no numbers; callers that know the requested revision fill them in.

use tonic::Code;

use crate::Error;

const COMPACTED: &str = "required revision has been compacted";
const FUTURE: &str = "required revision is a future revision";

pub(super) fn from_etcd(e: etcd_client::Error) -> Error {
    match e {
        etcd_client::Error::GRpcStatus(status) => from_status(status.code(), status.message()),
        etcd_client::Error::TransportError(e) => Error::Unavailable(format!("etcd: {e}")),
        etcd_client::Error::IoError(e) => Error::Unavailable(format!("etcd: {e}")),
        other => Error::Backend(format!("etcd: {other}")),
    }
}

/// Whether the member broke off or could not be reached: a read can go to another member,
/// a write only if [`not_delivered`].
pub(super) fn member_failed(e: &etcd_client::Error) -> bool {
    not_delivered(e)
        || matches!(e, etcd_client::Error::GRpcStatus(s)
            if matches!(s.code(), Code::Unavailable | Code::Unknown | Code::Cancelled)
                && (!s.message().starts_with("etcdserver:")
                    // An election in progress: the next try, here or elsewhere, will do.
                    || s.message().contains("leader")
                    || s.message().contains("timed out")))
}

/// Whether the request certainly never reached a member (so another member may take it).
pub(super) fn not_delivered(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(s) => {
            s.code() == Code::Unavailable && !s.message().starts_with("etcdserver:")
                || s.message().contains("no leader")
        }
        _ => false,
    }
}

fn from_status(code: Code, message: &str) -> Error {
    if message.contains(COMPACTED) {
        return Error::Compacted {
            requested: 0,
            compacted: 0,
        };
    }
    if message.contains(FUTURE) {
        return Error::FutureRevision {
            requested: 0,
            current: 0,
        };
    }
    let text = format!("etcd: {message}");
    match code {
        Code::DeadlineExceeded => Error::Timeout(text),
        // etcd answers "request timed out" / "leader changed" / "no leader" while a member
        // cannot reach a quorum: the cluster is unavailable, not the request wrong.
        Code::Unavailable | Code::Cancelled | Code::Aborted => Error::Unavailable(text),
        // A connection that broke mid-request (the member died) comes back as Unknown.
        Code::Unknown if message.contains("transport error") => Error::Unavailable(text),
        // The member's backend reached its quota (the NOSPACE alarm): only a compaction,
        // defragmentation and disarming the alarm by the operator let writes in again.
        Code::ResourceExhausted if message.contains("space exceeded") => Error::NoSpace(text),
        _ if message.contains("timed out") => Error::Timeout(text),
        _ => Error::Backend(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let cases: &[(Code, &str, &str)] = &[
            (
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
                "Compacted",
            ),
            (
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision",
                "FutureRevision",
            ),
            (
                Code::Unavailable,
                "etcdserver: leader changed",
                "Unavailable",
            ),
            (
                Code::Unavailable,
                "etcdserver: request timed out",
                "Unavailable",
            ),
            (
                Code::DeadlineExceeded,
                "context deadline exceeded",
                "Timeout",
            ),
            (Code::Unknown, "etcdserver: request timed out", "Timeout"),
            (
                Code::ResourceExhausted,
                "etcdserver: mvcc: database space exceeded",
                "NoSpace",
            ),
            (
                Code::InvalidArgument,
                "etcdserver: key is not provided",
                "Backend",
            ),
        ];
        for (code, message, want) in cases {
            let got = format!("{:?}", from_status(*code, message));
            assert!(got.starts_with(want), "{code:?} {message:?}: {got}");
        }
    }
}
