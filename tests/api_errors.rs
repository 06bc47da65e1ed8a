//! The management API over real HTTP: the token check, and every error a client can cause
//! answered as JSON with the right status and the field at fault.

mod common;

use std::time::Duration;

use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::opamp::proto;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WEB: &str = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: web}
spec:
  sources: [{type: otlp}]
  destinations: [{type: debug}]
"#;

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(server: &TestServer) -> Api {
        Api {
            base: format!("{}/api/v1", server.api_url()),
            http: http_client(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Body>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        match body {
            Some(Body::Json(v)) => req = req.json(&v),
            Some(Body::Text(t)) => req = req.body(t),
            None => {}
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Some(API_TOKEN), None).await
    }

    async fn post(&self, path: &str, body: Body) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(API_TOKEN), Some(body))
            .await
    }
}

enum Body {
    Json(Value),
    Text(String),
}

#[track_caller]
fn refused(got: (StatusCode, Value), status: StatusCode, field: Option<&str>) -> Value {
    let (s, body) = got;
    assert_eq!(s, status, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "an error message: {body}"
    );
    assert_eq!(body["field"].as_str(), field, "{body}");
    body
}

/// A WebSocket agent that introduces itself (no restart capability).
async fn agent(server: &TestServer, name: &str) -> (Ws, AgentId) {
    let uid = AgentId::new_v7();
    let mut ws = ws_agent(server).await;
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description(name, &format!("{name}-host")));
    ws_exchange(&mut ws, &hello).await;
    server
        .wait_for("agent listed", |s| s.get(&uid).is_some())
        .await;
    (ws, uid)
}

#[tokio::test]
async fn every_route_wants_the_bearer_token() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    for (method, path) in [
        (Method::GET, "/agents"),
        (Method::GET, "/configurations"),
        (Method::POST, "/apply"),
        (Method::DELETE, "/resources/configuration/web"),
        (Method::GET, "/no/such/route"),
    ] {
        for token in [None, Some("wrong"), Some("test-secret-4d1f")] {
            let resp = api
                .http
                .request(method.clone(), format!("{}{path}", api.base))
                .header(
                    "Authorization",
                    token.map(|t| format!("Bearer {t}")).unwrap_or_default(),
                )
                .body(WEB)
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}"
            );
            assert_eq!(
                resp.headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer realm=\"fleetdeck\"")
            );
            let body: Value = resp.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
        }
    }
    // The agent secret with the agents' scheme is not an API credential either.
    let resp = api
        .http
        .get(format!("{}/agents", api.base))
        .header("Authorization", format!("Secret-Key {API_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        server.rt.catalog.configurations().await.unwrap().is_empty(),
        "nothing applied"
    );

    let (s, body) = api.get("/no/such/route").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("/api/v1/no/such/route")
    );
    let (s, _) = api
        .send(Method::PUT, "/agents", Some(API_TOKEN), None)
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn malformed_requests_are_400_naming_the_parameter() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    refused(
        api.get("/agents?limit=ten").await,
        StatusCode::BAD_REQUEST,
        Some("limit"),
    );
    refused(
        api.get("/agents?limit=5000").await,
        StatusCode::BAD_REQUEST,
        Some("limit"),
    );
    refused(
        api.get("/agents?colour=red").await,
        StatusCode::BAD_REQUEST,
        Some("colour"),
    );
    refused(
        api.get("/events?since=yesterday").await,
        StatusCode::BAD_REQUEST,
        Some("since"),
    );
    refused(
        api.get("/types?kind=widget").await,
        StatusCode::BAD_REQUEST,
        Some("kind"),
    );
    refused(
        api.get("/configurations/web?version=latest").await,
        StatusCode::BAD_REQUEST,
        Some("version"),
    );
    refused(
        api.get("/rollouts/web?agents=maybe").await,
        StatusCode::BAD_REQUEST,
        Some("agents"),
    );
    let (_, uid) = agent(&server, "otelcol").await;
    refused(
        api.send(
            Method::PATCH,
            &format!("/agents/{uid}/labels"),
            Some(API_TOKEN),
            Some(Body::Text("{set:".into())),
        )
        .await,
        StatusCode::BAD_REQUEST,
        None,
    );
    refused(
        api.post("/rollouts", Body::Text(String::new())).await,
        StatusCode::BAD_REQUEST,
        None,
    );
    refused(
        api.post("/apply", Body::Text("  \n".into())).await,
        StatusCode::BAD_REQUEST,
        None,
    );
    refused(
        api.send(Method::DELETE, "/resources/widget/x", Some(API_TOKEN), None)
            .await,
        StatusCode::BAD_REQUEST,
        Some("kind"),
    );
}

#[tokio::test]
async fn content_that_does_not_validate_is_422() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (_, uid) = agent(&server, "otelcol").await;
    refused(
        api.get("/agents?selector=env%20in%20(a").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("selector"),
    );

    // Unreadable YAML: every problem with its line, nothing applied.
    let body = refused(
        api.post(
            "/apply?file=web.yaml",
            Body::Text("kind: Configuration\nmetadata: [oops\n".into()),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
    );
    let problems = body["problems"].as_array().expect("problems");
    assert!(
        problems[0].as_str().unwrap().starts_with("web.yaml:"),
        "{body}"
    );
    // One invalid resource among valid ones: each result is there.
    let (s, body) = api
        .post(
            "/apply",
            Body::Text(format!(
                "{WEB}---\n{}",
                WEB.replace("web}", "bad}").replace("otlp", "nosuch")
            )),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["results"][0]["status"], "created");
    assert_eq!(body["results"][1]["status"], "invalid");
    assert!(
        body["results"][1]["problems"][0]
            .as_str()
            .unwrap()
            .contains("nosuch")
    );

    // Rollouts: targets, agents, configuration and options are checked.
    for (req, field) in [
        (json!({"config": "web"}), "agents"),
        (
            json!({"config": "web", "agents": [uid.to_string()], "selector": "a=b"}),
            "selector",
        ),
        (
            json!({"config": "web", "agents": ["ffffffff-0000-7000-8000-000000000000"]}),
            "agents[0]",
        ),
        (json!({"config": "web", "selector": " "}), "selector"),
        (json!({"config": "web", "selector": "a=(b"}), "selector"),
        (
            json!({"config": "nope", "agents": [uid.to_string()]}),
            "config",
        ),
        (
            json!({"config": "web", "version": 7, "agents": [uid.to_string()]}),
            "version",
        ),
        (
            json!({"config": "web", "agents": [uid.to_string()], "options": {"multiplier": 0.5}}),
            "options.multiplier",
        ),
    ] {
        refused(
            api.post("/rollouts", Body::Json(req)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(field),
        );
    }
    refused(
        api.post(
            "/rollouts",
            Body::Json(json!({"config": "web", "agent": ["x"]})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        None,
    );

    // Labels the selector grammar could not select are refused.
    refused(
        api.send(
            Method::PATCH,
            &format!("/agents/{uid}/labels"),
            Some(API_TOKEN),
            Some(Body::Json(json!({"set": {"bad key": "x"}}))),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("set.bad key"),
    );
    refused(
        api.send(
            Method::PATCH,
            &format!("/agents/{uid}/labels"),
            Some(API_TOKEN),
            Some(Body::Json(json!({}))),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
    );
    let snap = server.rt.registry.snapshot().borrow().clone();
    assert!(!snap.get(&uid).unwrap().labels.contains_key("bad key"));
}

#[tokio::test]
async fn what_does_not_exist_is_404() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    api.post("/apply", Body::Text(WEB.into())).await;
    refused(
        api.get("/configurations/nope").await,
        StatusCode::NOT_FOUND,
        Some("name"),
    );
    refused(
        api.get("/configurations/web?version=9").await,
        StatusCode::NOT_FOUND,
        Some("name"),
    );
    refused(
        api.get("/configurations/nope/versions").await,
        StatusCode::NOT_FOUND,
        Some("name"),
    );
    refused(
        api.get("/agents/0194d1a2-0000-7000-8000-000000000001")
            .await,
        StatusCode::NOT_FOUND,
        Some("id"),
    );
    refused(
        api.get("/agents/nobody").await,
        StatusCode::NOT_FOUND,
        Some("id"),
    );
    refused(
        api.get("/rollouts/web").await,
        StatusCode::NOT_FOUND,
        Some("config"),
    );
    refused(
        api.get("/types/nosuch").await,
        StatusCode::NOT_FOUND,
        Some("name"),
    );
    let body = refused(
        api.get("/destinations/nowhere").await,
        StatusCode::NOT_FOUND,
        Some("name"),
    );
    assert_eq!(body["error"], "no destination named 'nowhere'");
    refused(
        api.get("/destinations?page=2").await,
        StatusCode::BAD_REQUEST,
        Some("page"),
    );
    refused(
        api.send(
            Method::DELETE,
            "/configurations/nope",
            Some(API_TOKEN),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        Some("name"),
    );
    refused(
        api.send(Method::POST, "/rollouts/web/explode", Some(API_TOKEN), None)
            .await,
        StatusCode::NOT_FOUND,
        Some("action"),
    );
}

#[tokio::test]
async fn state_that_refuses_a_request_is_409_naming_the_users() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (status, _) = api
        .post("/apply", Body::Text(format!("{WEB}---\n{EDGE}")))
        .await;
    assert_eq!(status, StatusCode::OK);
    let body = refused(
        api.send(
            Method::DELETE,
            "/resources/destination/central",
            Some(API_TOKEN),
            None,
        )
        .await,
        StatusCode::CONFLICT,
        None,
    );
    assert_eq!(body["users"], json!(["configuration edge"]));

    // An agent that never answers keeps the rollout running.
    let (_ws, uid) = agent(&server, "silent").await;
    let (s, view) = api
        .post(
            "/rollouts",
            Body::Json(json!({"config": "web", "agents": [uid.short()]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{view}");
    assert_eq!(view["status"]["status"], "running");
    // Pollers may ask for the counts without the per-agent list.
    let (s, full) = api.get("/rollouts/web").await;
    assert_eq!(s, StatusCode::OK, "{full}");
    assert_eq!(full["agents"][0]["id"], json!(uid.to_string()), "{full}");
    let (s, counts) = api.get("/rollouts/web?agents=false").await;
    assert_eq!(s, StatusCode::OK, "{counts}");
    assert!(counts.get("agents").is_none(), "{counts}");
    assert_eq!(counts["progress"], full["progress"]);
    assert_eq!(counts["status"], full["status"]);
    assert_eq!(counts["phases_planned"], full["phases_planned"]);
    refused(
        api.post(
            "/rollouts",
            Body::Json(json!({"config": "web", "agents": [uid.to_string()]})),
        )
        .await,
        StatusCode::CONFLICT,
        None,
    );
    server
        .wait_for("assigned", |s| {
            s.get(&uid).is_some_and(|a| a.config.is_some())
        })
        .await;
    let body = refused(
        api.send(Method::DELETE, "/configurations/web", Some(API_TOKEN), None)
            .await,
        StatusCode::CONFLICT,
        None,
    );
    let users: Vec<&str> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        users
            .iter()
            .any(|u| u.contains("silent") && u.contains(&uid.short())),
        "{users:?}"
    );
    assert!(
        users.iter().any(|u| u.starts_with("rollout of web:1")),
        "{users:?}"
    );

    let (s, v) = api
        .post("/rollouts/web/pause", Body::Text(String::new()))
        .await;
    assert_eq!(
        (s, &v["status"]["status"]),
        (StatusCode::OK, &json!("paused"))
    );
    refused(
        api.post("/rollouts/web/pause", Body::Text(String::new()))
            .await,
        StatusCode::CONFLICT,
        Some("config"),
    );

    // No restart capability: refused, naming it.
    let body = refused(
        api.post(&format!("/agents/{uid}/restart"), Body::Text(String::new()))
            .await,
        StatusCode::CONFLICT,
        None,
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("AcceptsRestartCommand"),
        "{body}"
    );
    assert!(
        server.rt.catalog.configuration("web", None).await.is_ok(),
        "still there"
    );
}

#[tokio::test]
async fn agents_page_select_and_show_full_state() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let mut agents = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        agents.push(agent(&server, name).await);
    }
    let (s, page) = api.get("/agents?limit=2").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            page["total"].as_u64(),
            page["items"].as_array().map(Vec::len)
        ),
        (Some(3), Some(2))
    );
    let (_, rest) = api.get("/agents?limit=2&offset=2").await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));

    let beta = agents[1].1;
    let (s, changed) = api
        .send(
            Method::PATCH,
            &format!("/agents/{}/labels", beta.short()),
            Some(API_TOKEN),
            Some(Body::Json(json!({"set": {"team": "edge"}}))),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(changed["operator_labels"], json!({"team": "edge"}));
    let (_, sel) = api.get("/agents?selector=team%3Dedge").await;
    assert_eq!(sel["total"], 1);
    assert_eq!(sel["items"][0]["id"], beta.to_string());
    let (_, none) = api.get("/agents?selector=team%3Dcore").await;
    assert_eq!(none["total"], 0);

    // By name (its host), with everything the registry knows and the (still empty) series.
    let (s, detail) = api.get("/agents/gamma-host?points=30").await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    assert_eq!(detail["agent"]["id"], agents[2].1.to_string());
    assert_eq!(detail["agent"]["host"], "gamma-host");
    // Times are Unix seconds, as openapi.yaml says, not serde's {secs_since_epoch, ...}.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for field in ["first_seen", "last_seen", "connected_at"] {
        let t = detail["agent"][field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field} is a number: {}", detail["agent"][field]));
        assert!(now.abs_diff(t) < 600, "{field} = {t}, now {now}");
    }
    assert_eq!(detail["telemetry"]["points"], 30);
    let series = detail["telemetry"]["series"].as_object().unwrap();
    assert!(
        series.contains_key("metrics_in") && series.contains_key("memory"),
        "{series:?}"
    );
    assert!(
        series["metrics_in"]["latest"].is_null(),
        "no telemetry reported, none invented"
    );

    // The history keeps the connections.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, ev) = api.get(&format!("/events?agent={beta}&limit=10")).await;
        let kinds: Vec<&str> = ev["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["kind"].as_str())
            .collect();
        if kinds.contains(&"agent_connected") {
            assert!(
                ev["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|e| e["agent"] == beta.to_string())
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no agent_connected event: {ev}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn diffs_between_versions_and_against_what_an_agent_runs() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    api.post("/apply", Body::Text(WEB.into())).await;
    refused(
        api.get("/configurations/web/diff").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("from"),
    );
    let (s, _) = api
        .post(
            "/apply",
            Body::Text(WEB.replace(
                "type: debug",
                "type: otlphttp, parameters: {endpoint: \"http://x:4318\"}",
            )),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, d) = api.get("/configurations/web/diff").await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(
        (d["from"].as_str(), d["to"].as_str(), d["changed"].as_bool()),
        (Some("web:1"), Some("web:2"), Some(true))
    );
    let added: Vec<&str> = d["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["op"] == "+")
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert!(added.iter().any(|l| l.contains("otlphttp")), "{added:?}");

    // An agent running exactly version 1 shows no difference from it, and one from version 2.
    let v1 = server
        .rt
        .catalog
        .configuration("web", Some(1))
        .await
        .unwrap()
        .rendered;
    let (mut ws, uid) = agent(&server, "runner").await;
    let mut report = message(uid, 1);
    report.effective_config = Some(proto::EffectiveConfig {
        config_map: Some(proto::AgentConfigMap {
            config_map: [(
                "collector.yaml".to_string(),
                proto::AgentConfigFile {
                    body: v1.into_bytes(),
                    content_type: "text/yaml".into(),
                },
            )]
            .into(),
        }),
    });
    ws_exchange(&mut ws, &report).await;
    server
        .wait_for("effective config", |s| {
            s.get(&uid).is_some_and(|a| a.effective_config.is_some())
        })
        .await;
    let (_, same) = api
        .get(&format!("/configurations/web/diff?agent={uid}&version=1"))
        .await;
    assert_eq!(same["changed"], false, "{same}");
    let (_, other) = api
        .get(&format!("/configurations/web/diff?agent={uid}"))
        .await;
    assert_eq!(
        (other["from"].as_str(), other["changed"].as_bool()),
        (Some("web:2"), Some(true))
    );

    let (_, silent) = agent(&server, "quiet").await;
    refused(
        api.get(&format!("/configurations/web/diff?agent={silent}"))
            .await,
        StatusCode::NOT_FOUND,
        Some("agent"),
    );
    let (s, r) = api.get("/configurations/web/render?version=1").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        r["yaml"].as_str().unwrap().contains("exporters:")
            && r["yaml"].as_str().unwrap().contains("debug"),
        "{r}"
    );
}

/// A resource type whose template would render without end (or allocate terabytes) is
/// refused naming the template; the server, and every agent on it, stays up.
#[tokio::test]
async fn a_runaway_template_is_refused_and_the_server_stays_up() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (_ws, _uid) = agent(&server, "otelcol").await;
    for body in [
        "{{ range 100000000000 }}x{{ end }}",
        "{{ indent 100000000000 \"x\" }}",
        "{{ printf \"%99999999999d\" 1 }}",
    ] {
        let doc = format!(
            "apiVersion: fleetdeck/v1\nkind: SourceType\nmetadata: {{name: runaway}}\nspec:\n  parameters: []\n  logs:\n    receivers: |\n      - filelog:\n          include: ['{body}']\n"
        );
        let (s, reply) = api.post("/apply?file=runaway.yaml", Body::Text(doc)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {reply}");
        let text = reply.to_string();
        assert!(text.contains("SourceType runaway"), "{text}");
        assert!(text.contains("template line"), "{text}");
    }
    let (s, _) = api.get("/agents").await;
    assert_eq!(s, StatusCode::OK, "still serving");
    assert_eq!(
        server.rt.registry.connected_agents(),
        1,
        "the agent is still there"
    );
}
