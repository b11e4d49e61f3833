//! Bad input always gets a 4xx problem+json naming the problem, and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

fn line(item: Value, quantity: Value) -> Value {
    json!({"reservation_id": "r-1", "lines": [{"item_id": item, "quantity": quantity}]})
}

/// Sends `body` raw with `content_type` and checks a 4xx problem whose detail mentions `needle`.
async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: String,
    status: StatusCode,
    needle: &str,
) {
    let res = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .header("content-type", content_type)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, status).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(needle),
        "{path} {body}: detail {detail:?} does not mention {needle:?}"
    );
}

#[tokio::test]
async fn bad_reservations_are_refused_with_a_reason_and_move_no_stock() {
    let app = spawn_app().await;
    app.add_item("widget", 50, None).await;
    let before = app.ledger("widget").await;
    let json_type = "application/json";
    let overlong = "x".repeat(65);
    let cases: Vec<(String, &str)> = vec![
        (line(json!("widget"), json!(-1)).to_string(), "quantity must be a whole number"),
        (line(json!("widget"), json!(0)).to_string(), "quantity must be a whole number"),
        (line(json!("widget"), json!(1.5)).to_string(), "quantity must be a whole number"),
        (line(json!("widget"), json!(1e12)).to_string(), "quantity must be a whole number"),
        (
            r#"{"reservation_id":"r-1","lines":[{"item_id":"widget","quantity":184467440737095516160}]}"#.to_owned(),
            "quantity must be a whole number",
        ),
        (line(json!("widget"), json!("3")).to_string(), "quantity must be a whole number"),
        (line(json!("widget"), json!("three")).to_string(), "quantity must be a whole number"),
        (line(json!("widget"), json!(null)).to_string(), "quantity must be a whole number"),
        (line(json!(""), json!(1)).to_string(), "item id must not be empty"),
        (line(json!(overlong), json!(1)).to_string(), "at most 64"),
        (line(json!("wid get"), json!(1)).to_string(), "contains ' '"),
        (line(json!("wid{get}"), json!(1)).to_string(), "contains '{'"),
        (line(json!(42), json!(1)).to_string(), "invalid type"),
        (r#"{"reservation_id":"r-1","lines":[{"item_id":"widget","quantity":1}"#.to_owned(), "not valid JSON"),
        ("not json at all".to_owned(), "not valid JSON"),
        (r#"{"reservation_id":"r-1","lines":[]}"#.to_owned(), "at least one line"),
        (json!({"lines": [{"item_id": "widget", "quantity": 1}]}).to_string(), "missing field `reservation_id`"),
        (json!({"reservation_id": "r-1"}).to_string(), "missing field `lines`"),
        (
            json!({"reservation_id": "r-1", "lines": [{"item_id": "widget", "quantity": 1}], "priority": "high"}).to_string(),
            "unknown field `priority`",
        ),
        (
            json!({"reservation_id": "r-1", "lines": [{"item_id": "widget", "quantity": 1, "price": 5}]}).to_string(),
            "unknown field `price`",
        ),
        (
            json!({"reservation_id": "r-1", "lines": [{"item_id": "widget", "quantity": 1}, {"item_id": "widget", "quantity": 2}]}).to_string(),
            "more than one line",
        ),
        (
            json!({"reservation_id": "r 1", "lines": [{"item_id": "widget", "quantity": 1}]}).to_string(),
            "reservation id",
        ),
    ];
    for (body, needle) in cases {
        refused(
            &app,
            Method::POST,
            "/reserve",
            json_type,
            body,
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
    }
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"item_id": format!("i{i}"), "quantity": 1}))
        .collect();
    let body = json!({"reservation_id": "r-1", "lines": many}).to_string();
    refused(
        &app,
        Method::POST,
        "/reserve",
        json_type,
        body,
        StatusCode::BAD_REQUEST,
        "at most 100",
    )
    .await;

    let good = line(json!("widget"), json!(1)).to_string();
    refused(
        &app,
        Method::POST,
        "/reserve",
        "text/plain",
        good.clone(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Type",
    )
    .await;
    let huge = format!(
        r#"{{"reservation_id":"r-1","pad":"{}"}}"#,
        "x".repeat(70_000)
    );
    refused(
        &app,
        Method::POST,
        "/reserve",
        json_type,
        huge,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than",
    )
    .await;

    assert_eq!(
        app.ledger("widget").await,
        before,
        "no refused request moved stock"
    );
    let res = app.reserve("r-1", &[("widget", 1)]).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "and the id was not used up"
    );
}

#[tokio::test]
async fn bad_item_writes_are_refused_with_a_reason_and_change_nothing() {
    let app = spawn_app().await;
    app.add_item("widget", 5, None).await;
    let before = app.item("widget").await;
    let json_type = "application/json";
    let creates = [
        (
            json!({"id": "n", "name": "N", "stock": -1}),
            "stock must be a whole number",
        ),
        (
            json!({"id": "n", "name": "N", "stock": 2.5}),
            "stock must be a whole number",
        ),
        (
            json!({"id": "n", "name": "N", "stock": 10_000_000_000u64}),
            "stock must be a whole number",
        ),
        (
            json!({"id": "n", "name": "N", "stock": "many"}),
            "stock must be a whole number",
        ),
        (
            json!({"id": "n", "name": "N", "stock": 1, "low_stock_threshold": -3}),
            "low_stock_threshold",
        ),
        (
            json!({"id": "n/1", "name": "N", "stock": 1}),
            "contains '/'",
        ),
        (
            json!({"id": "n", "name": "  ", "stock": 1}),
            "name must not be empty",
        ),
        (
            json!({"id": "n", "name": "N\u{7}", "stock": 1}),
            "control characters",
        ),
        (json!({"id": "n", "stock": 1}), "missing field `name`"),
        (
            json!({"id": "n", "name": "N", "stock": 1, "price": 3}),
            "unknown field `price`",
        ),
    ];
    for (body, needle) in creates {
        refused(
            &app,
            Method::POST,
            "/items",
            json_type,
            body.to_string(),
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
    }
    let updates = [
        (json!({}), "nothing to change"),
        (json!({"stock": -5}), "stock must be a whole number"),
        (json!({"stok": 5}), "unknown field `stok`"),
        (json!({"id": "other"}), "unknown field `id`"),
    ];
    for (body, needle) in updates {
        refused(
            &app,
            Method::PUT,
            "/items/widget",
            json_type,
            body.to_string(),
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
    }
    assert_eq!(app.item("widget").await, before);
    assert_eq!(
        app.request(Method::GET, "/items/n", None).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_paths_and_queries_are_refused_with_a_reason() {
    let app = spawn_app().await;
    app.add_item("widget", 5, None).await;
    let cases = [
        (format!("/items/{}", "x".repeat(65)), "at most 64"),
        ("/items/wid%20get".to_owned(), "contains ' '"),
        ("/items/widget/check".to_owned(), "quantity"),
        (
            "/items/widget/check?quantity=-2".to_owned(),
            "quantity must be a whole number",
        ),
        (
            "/items/widget/check?quantity=abc".to_owned(),
            "quantity must be a whole number",
        ),
        ("/items?limit=0".to_owned(), "limit must be a whole number"),
        (
            "/items?limit=100000".to_owned(),
            "limit must be a whole number",
        ),
        ("/items?cursor=a%2Fb".to_owned(), "cursor"),
    ];
    for (path, needle) in cases {
        let res = app.request(Method::GET, &path, None).await;
        let problem = assert_problem(res, StatusCode::BAD_REQUEST).await;
        assert!(
            problem["detail"].as_str().unwrap().contains(needle),
            "{path}: {problem}"
        );
    }
    let res = app.request(Method::GET, "/no/such/route", None).await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
    let res = app.request(Method::PATCH, "/items/widget", None).await;
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED).await;
}
