//! The item routes: catalog reads, admin writes, the admin token.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, assert_problem, spawn_app};

#[tokio::test]
async fn an_item_can_be_added_read_changed_and_removed() {
    let app = spawn_app().await;

    let res = app
        .admin(
            Method::POST,
            "/items",
            Some(json!({"id": "widget", "name": "Widget", "stock": 25})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["location"], "/items/widget");
    let created: Value = res.json().await.unwrap();
    assert_eq!(
        created,
        json!({"id": "widget", "name": "Widget", "stock": 25, "reserved": 0, "low_stock_threshold": 10})
    );
    assert_eq!(app.item("widget").await, created);

    let again = app
        .admin(
            Method::POST,
            "/items",
            Some(json!({"id": "widget", "name": "Other", "stock": 1})),
        )
        .await;
    assert_problem(again, StatusCode::CONFLICT).await;
    assert_eq!(
        app.item("widget").await["name"],
        "Widget",
        "a refused add changes nothing"
    );

    let res = app
        .admin(
            Method::PUT,
            "/items/widget",
            Some(json!({"stock": 40, "name": "Blue widget", "low_stock_threshold": 5})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["stock"], 40);
    assert_eq!(changed["name"], "Blue widget");
    assert_eq!(changed["low_stock_threshold"], 5);
    let ledger = app.ledger("widget").await;
    assert_eq!(
        ledger.provisioned, 40,
        "a restock counts as provisioned stock"
    );

    let res = app.admin(Method::DELETE, "/items/widget", None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.request(Method::GET, "/items/widget", None).await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
    let res = app.admin(Method::DELETE, "/items/widget", None).await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn the_catalog_is_listed_a_page_at_a_time() {
    let app = spawn_app().await;
    for id in ["e", "a", "c", "b", "d"] {
        app.add_item(id, 3, None).await;
    }
    let mut seen = Vec::new();
    let mut path = "/items?limit=2".to_owned();
    loop {
        let page: Value = app
            .request(Method::GET, &path, None)
            .await
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/items?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
}

#[tokio::test]
async fn availability_is_checked_and_seed_001_inventory_route_answers() {
    let app = spawn_app().await;
    app.add_item("widget", 7, None).await;

    let yes: Value = app
        .request(Method::GET, "/items/widget/check?quantity=7", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        yes,
        json!({"item_id": "widget", "quantity": 7, "available": true, "stock": 7})
    );
    let no: Value = app
        .request(Method::GET, "/items/widget/check?quantity=8", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(no["available"], false);

    let inv: Value = app
        .request(Method::GET, "/inventory/widget", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inv, json!({"item": "widget", "stock": 7}));

    for path in [
        "/items/ghost",
        "/items/ghost/check?quantity=1",
        "/inventory/ghost",
    ] {
        let res = app.request(Method::GET, path, None).await;
        let body = assert_problem(res, StatusCode::NOT_FOUND).await;
        assert_eq!(body["item_id"], "ghost", "{path}");
    }
}

#[tokio::test]
async fn admin_routes_refuse_a_missing_or_wrong_token_and_change_nothing() {
    let app = spawn_app().await;
    app.add_item("widget", 5, None).await;
    let url = |p: &str| format!("{}{p}", app.address);
    let attempts = [
        (
            Method::POST,
            "/items",
            Some(json!({"id": "new", "name": "New", "stock": 1})),
        ),
        (Method::PUT, "/items/widget", Some(json!({"stock": 99}))),
        (Method::DELETE, "/items/widget", None),
    ];
    for (method, path, body) in attempts {
        for token in [None, Some("wrong-token"), Some("")] {
            let mut req = app.client.request(method.clone(), url(path));
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let res = req.send().await.unwrap();
            let expected = match token {
                Some("wrong-token") => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            assert_problem(res, expected).await;
        }
    }
    // A token of another scheme is no bearer token.
    let res = app
        .client
        .put(url("/items/widget"))
        .header("authorization", format!("Basic {ADMIN_TOKEN}"))
        .json(&json!({"stock": 99}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    assert_eq!(app.stock("widget").await, 5);
    let res = app.request(Method::GET, "/items/new", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_keeps_a_sane_one() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "client-chosen-42");

    let res = app
        .client
        .get(format!("{}/items/none", app.address))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "bad id with spaces");
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "a fresh id replaces an odd one: {id}"
    );

    let ready = app.request(Method::GET, "/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    let metrics = app
        .request(Method::GET, "/metrics", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
}
