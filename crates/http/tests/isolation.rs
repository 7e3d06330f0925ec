//! The isolation matrix: every route the router serves, asked with workspace B's key about
//! workspace A's resources, answers 404 and shows none of A's ids; asked with A's key, it
//! succeeds (so the table is known to name real resources).
//!
//! [`routes`] is the one table of routes. It must list every route: the test fails when a path
//! literal of `src/lib.rs` is missing from it, or when a method not in it is served on one of
//! its paths.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use common::{Fixture, Reply, Tenant, fixture, send};

/// A route: method, path template exactly as `src/lib.rs` declares it, a valid body for A's
/// own request, and the status A's own request gets.
struct Route {
    method: Method,
    template: &'static str,
    body: Option<&'static str>,
    success: StatusCode,
    authenticated: bool,
}

const WORKSPACE_CALLS: &str = "/workspaces/{workspaceId}/channels/calls";
const CALLS: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls";
const CALL: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}";
const INSIGHTS: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/insights";
const ANSWER: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/answer";
const RINGING: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/ringing";
const HANGUP: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/hangup";
const PLAYBACK: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/playback";
const SAY: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/say";
const GATHER: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/gather";
const RECORD: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/record";
const BRIDGE: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/bridge";
const SUBSCRIPTIONS: &str =
    "/organizations/{organizationId}/workspaces/{workspaceId}/webhook-subscriptions";
const SUBSCRIPTION: &str = "/organizations/{organizationId}/workspaces/{workspaceId}/webhook-subscriptions/{subscriptionId}";
const DELIVERIES: &str =
    "/organizations/{organizationId}/workspaces/{workspaceId}/webhook-deliveries";
const DELIVERY_REPLAY: &str = "/organizations/{organizationId}/workspaces/{workspaceId}/webhook-deliveries/{deliveryId}/replay";

/// Every route the router serves.
fn routes() -> Vec<Route> {
    let route = |method, template, body, success| Route {
        method,
        template,
        body,
        success,
        authenticated: true,
    };
    vec![
        Route {
            authenticated: false,
            ..route(Method::GET, "/health", None, StatusCode::OK)
        },
        route(Method::GET, WORKSPACE_CALLS, None, StatusCode::OK),
        route(Method::GET, CALLS, None, StatusCode::OK),
        route(
            Method::POST,
            CALLS,
            Some(r#"{"to":"+31612345678"}"#),
            StatusCode::ACCEPTED,
        ),
        route(Method::GET, CALL, None, StatusCode::OK),
        route(
            Method::PATCH,
            CALL,
            Some(r#"{"status":"completed"}"#),
            StatusCode::ACCEPTED,
        ),
        route(Method::GET, INSIGHTS, None, StatusCode::OK),
        route(Method::POST, ANSWER, None, StatusCode::ACCEPTED),
        route(Method::POST, RINGING, Some("{}"), StatusCode::ACCEPTED),
        route(
            Method::POST,
            HANGUP,
            Some(r#"{"cause":"busy"}"#),
            StatusCode::ACCEPTED,
        ),
        route(
            Method::POST,
            PLAYBACK,
            Some(r#"{"media":["https://example.com/a.wav"]}"#),
            StatusCode::ACCEPTED,
        ),
        route(
            Method::POST,
            SAY,
            Some(r#"{"text":"hello"}"#),
            StatusCode::ACCEPTED,
        ),
        route(
            Method::POST,
            GATHER,
            Some(r#"{"maxNumKeys":1}"#),
            StatusCode::ACCEPTED,
        ),
        route(Method::POST, RECORD, None, StatusCode::ACCEPTED),
        route(
            Method::POST,
            BRIDGE,
            Some(r#"{"to":"1000"}"#),
            StatusCode::ACCEPTED,
        ),
        route(Method::GET, SUBSCRIPTIONS, None, StatusCode::OK),
        route(
            Method::POST,
            SUBSCRIPTIONS,
            Some(
                r#"{"service":"channels","event":"voice.inbound","url":"https://example.com/hook"}"#,
            ),
            StatusCode::CREATED,
        ),
        route(Method::GET, SUBSCRIPTION, None, StatusCode::OK),
        route(Method::DELETE, SUBSCRIPTION, None, StatusCode::NO_CONTENT),
        route(Method::GET, DELIVERIES, None, StatusCode::OK),
        route(Method::POST, DELIVERY_REPLAY, None, StatusCode::ACCEPTED),
    ]
}

/// The ids to put in a path.
#[derive(Clone)]
struct PathIds {
    organization: String,
    workspace: String,
    channel: String,
    call: String,
    subscription: String,
    delivery: String,
}

impl PathIds {
    /// The tenant's own ids (its dead delivery: the one that can be replayed).
    fn of(tenant: &Tenant) -> Self {
        Self {
            organization: tenant.organization.to_string(),
            workspace: tenant.workspace.to_string(),
            channel: tenant.channel.to_string(),
            call: tenant.call.id.to_string(),
            subscription: tenant.subscription.to_string(),
            delivery: tenant.dead.to_string(),
        }
    }

    /// The template with every parameter replaced; a parameter this table does not know fails
    /// the test (the table needs a new id).
    fn fill(&self, template: &str) -> String {
        let path = template
            .replace("{organizationId}", &self.organization)
            .replace("{workspaceId}", &self.workspace)
            .replace("{channelId}", &self.channel)
            .replace("{callId}", &self.call)
            .replace("{subscriptionId}", &self.subscription)
            .replace("{deliveryId}", &self.delivery);
        assert!(
            !path.contains('{'),
            "{template}: a path parameter the isolation table does not know"
        );
        path
    }
}

/// Whether the template names a resource below the workspace.
fn names_a_resource(template: &str) -> bool {
    [
        "{channelId}",
        "{callId}",
        "{subscriptionId}",
        "{deliveryId}",
    ]
    .iter()
    .any(|parameter| template.contains(parameter))
}

/// Fails when `reply` shows any of `tenant`'s ids.
fn assert_shows_nothing_of(tenant: &Tenant, reply: &Reply, context: &str) {
    let text = reply.body.to_string();
    for id in tenant.ids() {
        assert!(!text.contains(&id), "{context}: shows {id} in {text}");
    }
}

/// What A can see of its own data, to check that B's requests changed none of it.
async fn snapshot(fixture: &Fixture) -> Vec<Value> {
    let first = &fixture.first;
    let ids = PathIds::of(first);
    let mut uris = vec![
        ids.fill(WORKSPACE_CALLS),
        ids.fill(CALLS),
        ids.fill(SUBSCRIPTIONS),
    ];
    for state in ["pending", "delivered", "dead"] {
        uris.push(format!("{}?state={state}&limit=100", ids.fill(DELIVERIES)));
    }
    let mut views = Vec::new();
    for uri in uris {
        let reply = send(&fixture.app, Method::GET, &uri, Some(&first.key), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
        views.push(reply.body);
    }
    views
}

#[tokio::test]
async fn every_route_hides_another_workspaces_resources() {
    for route in routes() {
        // A fresh database per route: a route that changes data (DELETE, replay) must find
        // A's resources as they were created.
        let fixture = fixture().await;
        let (first, second) = (&fixture.first, &fixture.second);
        let name = format!("{} {}", route.method, route.template);
        let before = snapshot(&fixture).await;

        if route.authenticated {
            let mut attempts = vec![("A's ids", PathIds::of(first))];
            if names_a_resource(route.template) {
                attempts.push((
                    "B's workspace, A's resources",
                    PathIds {
                        organization: second.organization.to_string(),
                        workspace: second.workspace.to_string(),
                        ..PathIds::of(first)
                    },
                ));
            }
            if route.template.contains("{organizationId}") {
                attempts.push((
                    "B's resources under A's organization",
                    PathIds {
                        organization: first.organization.to_string(),
                        ..PathIds::of(second)
                    },
                ));
                attempts.push((
                    "A's workspace under B's organization",
                    PathIds {
                        organization: second.organization.to_string(),
                        ..PathIds::of(first)
                    },
                ));
            }
            for (variant, ids) in attempts {
                let path = ids.fill(route.template);
                let reply = send(
                    &fixture.app,
                    route.method.clone(),
                    &path,
                    Some(&second.key),
                    route.body,
                )
                .await;
                let context = format!("{name} with B's key, {variant}");
                assert_eq!(
                    reply.status,
                    StatusCode::NOT_FOUND,
                    "{context}: {}",
                    reply.body
                );
                assert_eq!(reply.code(), "NotFound", "{context}");
                assert_shows_nothing_of(first, &reply, &context);
            }
            // B's own lists show none of A's.
            if route.method == Method::GET && !names_a_resource(route.template) {
                for query in ["", "?state=pending", "?state=delivered", "?state=dead"] {
                    let path = format!("{}{query}", PathIds::of(second).fill(route.template));
                    let reply =
                        send(&fixture.app, Method::GET, &path, Some(&second.key), None).await;
                    let context = format!("{name}{query}: B's own list");
                    assert_eq!(reply.status, route.success, "{context}: {}", reply.body);
                    assert_shows_nothing_of(first, &reply, &context);
                }
            }
        } else {
            let reply = send(
                &fixture.app,
                route.method.clone(),
                route.template,
                Some(&second.key),
                route.body,
            )
            .await;
            assert_eq!(reply.status, route.success, "{name}");
            assert_shows_nothing_of(first, &reply, &name);
        }

        assert_eq!(
            snapshot(&fixture).await,
            before,
            "{name}: B's requests changed A's data"
        );
        assert!(
            fixture.control.requests().is_empty(),
            "{name}: B's requests reached the call runtime"
        );

        // Sanity: the same path with A's key and A's ids is A's resource.
        let path = PathIds::of(first).fill(route.template);
        let reply = send(
            &fixture.app,
            route.method.clone(),
            &path,
            Some(&first.key),
            route.body,
        )
        .await;
        assert_eq!(
            reply.status, route.success,
            "{name} with A's key: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn the_table_lists_every_path_of_the_router() {
    // Every string literal of src/lib.rs that starts with `/` is a route path.
    let source = include_str!("../src/lib.rs");
    let declared: BTreeSet<&str> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.starts_with('/'))
        .collect();
    let listed: BTreeSet<&str> = routes().iter().map(|route| route.template).collect();
    assert_eq!(declared, listed);
}

#[tokio::test]
async fn the_table_lists_every_method_of_each_path() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let table = routes();
    let templates: BTreeSet<&str> = table.iter().map(|route| route.template).collect();
    for template in templates {
        let path = PathIds::of(first).fill(template);
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let listed = table
                .iter()
                .any(|route| route.template == template && route.method == method);
            if listed {
                continue;
            }
            let reply = send(&fixture.app, method.clone(), &path, Some(&first.key), None).await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {template} is served but not in the isolation table"
            );
        }
    }
}
