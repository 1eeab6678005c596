//! Writes `/openapi/v2` as the gnostic protobuf to stdout, for checking with
//! `protoc --decode=openapi.v2.Document OpenAPIv2.proto`.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let bytes = registry::openapi_pb::encode_v2(&registry::openapi::v2_document());
    std::io::stdout().write_all(&bytes)
}
