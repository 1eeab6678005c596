use super::*;
use expect_test::{expect, Expect};
use serde_json::json;

/// One decoded field: what the wire carries, before any schema gives it meaning.
#[derive(Debug, Clone, PartialEq)]
enum Wire {
    Varint(u64),
    Fixed64(u64),
    Bytes(Vec<u8>),
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

/// The fields of one message, or None if `bytes` is not a well-formed message.
fn decode(bytes: &[u8]) -> Option<Vec<(u32, Wire)>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let key = read_varint(bytes, &mut pos)?;
        let field = u32::try_from(key >> 3).ok().filter(|f| *f > 0)?;
        let wire = match key & 7 {
            0 => Wire::Varint(read_varint(bytes, &mut pos)?),
            1 => {
                let raw: [u8; 8] = bytes.get(pos..pos + 8)?.try_into().ok()?;
                pos += 8;
                Wire::Fixed64(u64::from_le_bytes(raw))
            }
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut pos)?).ok()?;
                let body = bytes.get(pos..pos.checked_add(len)?)?.to_vec();
                pos += len;
                Wire::Bytes(body)
            }
            _ => return None,
        };
        out.push((field, wire));
    }
    Some(out)
}

/// A `protoc --decode_raw`-like dump: printable bytes are strings, the rest nested messages.
fn dump(bytes: &[u8], indent: usize, out: &mut String) {
    for (field, wire) in decode(bytes).expect("well-formed message") {
        let pad = "  ".repeat(indent);
        match wire {
            Wire::Varint(n) => out.push_str(&format!("{pad}{field}: {n}\n")),
            Wire::Fixed64(bits) => {
                out.push_str(&format!("{pad}{field}: {}d\n", f64::from_bits(bits)))
            }
            Wire::Bytes(body) if is_text(&body) => {
                let text = String::from_utf8_lossy(&body);
                out.push_str(&format!("{pad}{field}: {text:?}\n"));
            }
            Wire::Bytes(body) => {
                out.push_str(&format!("{pad}{field} {{\n"));
                dump(&body, indent + 1, out);
                out.push_str(&format!("{pad}}}\n"));
            }
        }
    }
}

/// Printable, with at most the trailing newline YAML ends with: a nested message starts with a
/// key byte such as `\n` (field 1, length-delimited), so it never passes.
fn is_text(bytes: &[u8]) -> bool {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    !body.is_empty() && body.iter().all(|b| (0x20..0x7f).contains(b))
}

fn check(doc: Value, expected: Expect) {
    let mut out = String::new();
    dump(&encode_v2(&doc), 0, &mut out);
    expected.assert_eq(&out);
}

#[test]
fn document_header_and_security() {
    check(
        json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.37.0"},
            "securityDefinitions": {
                "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}
            },
            "security": [{"BearerToken": []}],
        }),
        // Document: swagger 1, info 2 (title 1, version 2), security 12 (NamedStringArray with
        // an empty StringArray), security_definitions 13 (api_key_security 2).
        expect![[r##"
            1: "2.0"
            2 {
              1: "Kubernetes"
              2: "v1.37.0"
            }
            12 {
              1 {
                1: "BearerToken"
                2 {
                }
              }
            }
            13 {
              1 {
                1: "BearerToken"
                2 {
                  2 {
                    1: "apiKey"
                    2: "authorization"
                    3: "header"
                  }
                }
              }
            }
        "##]],
    );
}

#[test]
fn definitions_keep_what_kubectl_validation_reads() {
    check(
        json!({"definitions": {"io.k8s.api.apps.v1.Deployment": {
            "description": "Deployment enables declarative updates.",
            "type": "object",
            "required": ["spec"],
            "properties": {
                "replicas": {"type": "integer", "format": "int32", "minimum": -1.5},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "raw": {"type": "object", "additionalProperties": false},
                "ports": {
                    "type": "array",
                    "items": {"$ref": "#/definitions/io.k8s.api.core.v1.ContainerPort"},
                    "x-kubernetes-patch-merge-key": "containerPort",
                },
                "policy": {"type": "string", "enum": ["Always", "Never"], "default": "Always"},
                "empty": {"properties": {}},
                "oneOfIsNotSwagger2": {"oneOf": [{"type": "string"}]},
            },
            "x-kubernetes-group-version-kind": [
                {"group": "apps", "kind": "Deployment", "version": "v1"}
            ],
        }}}),
        // Definitions 9 > NamedSchema 1 (name 1, Schema 2). Schema: description 4,
        // required 19, type 22, properties 25, vendor_extension 31; in properties:
        // format 2, minimum 9 (double), additional_properties 21 (schema 1 | boolean 2),
        // items 23, _ref 1, enum 20 and default 5 as Any.yaml 2.
        expect![[r##"
            9 {
              1 {
                1: "io.k8s.api.apps.v1.Deployment"
                2 {
                  4: "Deployment enables declarative updates."
                  19: "spec"
                  22 {
                    1: "object"
                  }
                  25 {
                    1 {
                      1: "replicas"
                      2 {
                        2: "int32"
                        9: -1.5d
                        22 {
                          1: "integer"
                        }
                      }
                    }
                    1 {
                      1: "labels"
                      2 {
                        21 {
                          1 {
                            22 {
                              1: "string"
                            }
                          }
                        }
                        22 {
                          1: "object"
                        }
                      }
                    }
                    1 {
                      1: "raw"
                      2 {
                        21 {
                          2: 0
                        }
                        22 {
                          1: "object"
                        }
                      }
                    }
                    1 {
                      1: "ports"
                      2 {
                        22 {
                          1: "array"
                        }
                        23 {
                          1 {
                            1: "#/definitions/io.k8s.api.core.v1.ContainerPort"
                          }
                        }
                        31 {
                          1: "x-kubernetes-patch-merge-key"
                          2 {
                            2: "\"containerPort\"\n"
                          }
                        }
                      }
                    }
                    1 {
                      1: "policy"
                      2 {
                        5 {
                          2: "\"Always\"\n"
                        }
                        20 {
                          2: "\"Always\"\n"
                        }
                        20 {
                          2: "\"Never\"\n"
                        }
                        22 {
                          1: "string"
                        }
                      }
                    }
                    1 {
                      1: "empty"
                      2 {
                        25 {
                        }
                      }
                    }
                    1 {
                      1: "oneOfIsNotSwagger2"
                      2 {
                      }
                    }
                  }
                  31 {
                    1: "x-kubernetes-group-version-kind"
                    2 {
                      2: "[{\"group\":\"apps\",\"kind\":\"Deployment\",\"version\":\"v1\"}]\n"
                    }
                  }
                }
              }
            }
        "##]],
    );
}

#[test]
fn paths_carry_operations_parameters_and_responses() {
    check(
        json!({"paths": {"/apis/apps/v1/namespaces/{namespace}/deployments": {
            "parameters": [
                {"name": "namespace", "in": "path", "required": true, "type": "string"},
                {"$ref": "#/parameters/pretty"},
            ],
            "post": {
                "tags": ["apps_v1"],
                "operationId": "createAppsV1NamespacedDeployment",
                "consumes": ["*/*"],
                "parameters": [
                    {"name": "body", "in": "body", "required": true,
                     "schema": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"}},
                    {"name": "dryRun", "in": "query", "type": "string", "uniqueItems": true},
                ],
                "responses": {
                    "200": {"description": "OK",
                            "schema": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"}},
                    "401": {"description": "Unauthorized"},
                },
                "x-kubernetes-action": "post",
            },
        }}}),
        // Paths 8 > path 2 > NamedPathItem (name 1, PathItem 2). PathItem: post 4,
        // parameters 9 (ParametersItem: parameter 1 | json_reference 2). Parameter: body 1 |
        // non_body 2 (path 4: required 1, in 2, name 4, type 5; query 3: name 4, in 2,
        // type 6, unique_items 20). Operation: tags 1, operation_id 5, consumes 7,
        // parameters 8, responses 9 (response_code 1 > NamedResponseValue > response 1:
        // description 1, SchemaItem 2 > schema 1), vendor_extension 13.
        expect![[r##"
            8 {
              2 {
                1: "/apis/apps/v1/namespaces/{namespace}/deployments"
                2 {
                  4 {
                    1: "apps_v1"
                    5: "createAppsV1NamespacedDeployment"
                    7: "*/*"
                    8 {
                      1 {
                        1 {
                          2: "body"
                          3: "body"
                          4: 1
                          5 {
                            1: "#/definitions/io.k8s.api.apps.v1.Deployment"
                          }
                        }
                      }
                    }
                    8 {
                      1 {
                        2 {
                          3 {
                            2: "query"
                            4: "dryRun"
                            6: "string"
                            20: 1
                          }
                        }
                      }
                    }
                    9 {
                      1 {
                        1: "200"
                        2 {
                          1 {
                            1: "OK"
                            2 {
                              1 {
                                1: "#/definitions/io.k8s.api.apps.v1.Deployment"
                              }
                            }
                          }
                        }
                      }
                      1 {
                        1: "401"
                        2 {
                          1 {
                            1: "Unauthorized"
                          }
                        }
                      }
                    }
                    13 {
                      1: "x-kubernetes-action"
                      2 {
                        2: "\"post\"\n"
                      }
                    }
                  }
                  9 {
                    1 {
                      2 {
                        4 {
                          1: 1
                          2: "path"
                          4: "namespace"
                          5: "string"
                        }
                      }
                    }
                  }
                  9 {
                    2 {
                      1: "#/parameters/pretty"
                    }
                  }
                }
              }
            }
        "##]],
    );
}

fn bytes_fields(message: &[u8], field: u32) -> Vec<Vec<u8>> {
    decode(message)
        .expect("well-formed message")
        .into_iter()
        .filter_map(|(f, w)| match w {
            Wire::Bytes(b) if f == field => Some(b),
            _ => None,
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// What kubectl does with the real document: index definitions by name, check every `_ref`
/// in them resolves, and find each kind's definition by its gvk extension.
#[test]
fn registry_document_round_trips_what_kubectl_reads() {
    let bytes = encode_v2(&crate::openapi::v2_document());
    let [definitions] = &bytes_fields(&bytes, 9)[..] else {
        panic!("one definitions field");
    };
    let named: Vec<(String, Vec<u8>)> = bytes_fields(definitions, 1)
        .iter()
        .map(|entry| {
            let name = text(&bytes_fields(entry, 1)[0]);
            (name, bytes_fields(entry, 2)[0].clone())
        })
        .collect();
    let names: std::collections::BTreeSet<&str> = named.iter().map(|(n, _)| n.as_str()).collect();

    fn refs(schema: &[u8], out: &mut Vec<String>) {
        out.extend(bytes_fields(schema, 1).iter().map(|r| text(r)));
        for props in bytes_fields(schema, 25) {
            for entry in bytes_fields(&props, 1) {
                bytes_fields(&entry, 2).iter().for_each(|s| refs(s, out));
            }
        }
        for items in bytes_fields(schema, 23) {
            bytes_fields(&items, 1).iter().for_each(|s| refs(s, out));
        }
        for additional in bytes_fields(schema, 21) {
            bytes_fields(&additional, 1)
                .iter()
                .for_each(|s| refs(s, out));
        }
    }
    let mut all_refs = Vec::new();
    for (_, schema) in &named {
        refs(schema, &mut all_refs);
    }
    assert!(all_refs.len() > 500, "{} refs", all_refs.len());
    for r in &all_refs {
        let target = r.strip_prefix("#/definitions/").expect("definition ref");
        assert!(names.contains(target), "dangling {r}");
    }

    let (_, deployment) = named
        .iter()
        .find(|(n, _)| n == "io.k8s.api.apps.v1.Deployment")
        .expect("Deployment definition");
    let gvk: Vec<Value> = bytes_fields(deployment, 31)
        .iter()
        .filter(|ext| text(&bytes_fields(ext, 1)[0]) == "x-kubernetes-group-version-kind")
        .map(|ext| {
            let yaml = text(&bytes_fields(&bytes_fields(ext, 2)[0], 2)[0]);
            serde_json::from_str(&yaml).expect("gvk is JSON")
        })
        .collect();
    assert_eq!(
        gvk,
        vec![json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])]
    );
}
