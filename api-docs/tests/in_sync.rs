//! The committed OpenAPI document is the one the code generates, and it describes every public
//! route the gateway serves.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

#[test]
fn the_committed_document_matches_the_code() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        on_disk == api_docs::render(),
        "api-docs/openapi.json is out of date with the code: run `make openapi` and commit it"
    );
}

#[test]
fn every_public_route_is_documented() {
    let doc: serde_json::Value = serde_json::from_str(&api_docs::render()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/items", &["get", "post"][..]),
        ("/items/{id}", &["get", "put", "delete"]),
        ("/items/{id}/check", &["get"]),
        ("/inventory/{id}", &["get"]),
        ("/orders", &["get", "post"]),
        ("/orders/{id}", &["get"]),
        ("/orders/{id}/cancel", &["post"]),
        ("/price/{id}", &["get", "put"]),
        ("/prices", &["get"]),
        ("/price/{id}/history", &["get"]),
        ("/report/orders", &["get"]),
        ("/report/low-stock", &["get"]),
        ("/notifications", &["get"]),
    ] {
        for m in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*m)).is_some(),
                "{m} {path} is not documented"
            );
        }
    }
    for internal in ["/reserve", "/ledger/{id}", "/metrics"] {
        assert!(
            paths.get(internal).is_none(),
            "{internal} is internal and must not be documented"
        );
    }
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
}

#[test]
fn every_problem_the_gateway_answers_is_a_known_kind_with_its_status_and_title() {
    use platform::problem::{ProblemKind, TYPE_PREFIX};

    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway/nginx.conf.template");
    let template = std::fs::read_to_string(template).unwrap();
    let mut seen = 0;
    for line in template.lines() {
        // `return 404 '{"type":"urn:sioms:problem:not-found","title":…,"status":404,…}';`
        let Some(body) = line
            .split_once('\'')
            .and_then(|(_, rest)| rest.rsplit_once('\''))
            .map(|(body, _)| body)
        else {
            continue;
        };
        let Ok(problem) = serde_json::from_str::<serde_json::Value>(body) else {
            continue;
        };
        let Some(uri) = problem["type"].as_str() else {
            continue;
        };
        if !uri.starts_with(TYPE_PREFIX) {
            continue;
        }
        let kind = ProblemKind::from_type_uri(uri)
            .unwrap_or_else(|| panic!("the gateway answers an unknown problem type {uri}"));
        assert_eq!(problem["status"], kind.status().as_u16(), "{uri}");
        assert_eq!(problem["title"], kind.title(), "{uri}");
        seen += 1;
    }
    assert!(
        seen >= 4,
        "found only {seen} problem bodies in the gateway template"
    );
}
