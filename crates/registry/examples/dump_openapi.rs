//! Prints the OpenAPI v2 document as JSON; scripts/gen-protobuf-schema.py reads its definitions.

fn main() {
    println!("{}", registry::openapi::v2_document());
}
