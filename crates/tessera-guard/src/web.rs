//! axum and tower: the [`Claims`] extractor, [`GuardLayer`] for whole routers or single routes,
//! [`RequireScope`] for handlers, and the one mapping of [`Error`] to an HTTP answer.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::{header, request::Parts, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::claims::Claims;
use crate::error::Error;
use crate::guard::Guard;

/// The description of every 401: the same whichever check failed, so an attacker learns nothing
/// about which one.
pub const INVALID_TOKEN_DESCRIPTION: &str =
    "authentication required: the access token is missing, invalid, expired or revoked";

/// A quoted-string parameter value (RFC 9110 §5.6.4), or `None` if it cannot be one.
fn quoted(value: &str) -> Option<String> {
    if value.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        return None;
    }
    Some(value.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Error {
    /// The answer for this error, with the `WWW-Authenticate` challenge's `realm`.
    #[must_use]
    pub fn to_response(&self, realm: &str) -> Response {
        let realm = quoted(realm)
            .map(|r| format!("realm=\"{r}\", "))
            .unwrap_or_default();
        let (status, challenge, body) = match self {
            Error::MissingToken => (
                StatusCode::UNAUTHORIZED,
                Some(format!("Bearer {}", realm.trim_end_matches(", "))),
                json!({"error": "invalid_token", "error_description": INVALID_TOKEN_DESCRIPTION}),
            ),
            Error::InvalidToken(_) | Error::Revoked(_) | Error::MalformedAuthorization => (
                StatusCode::UNAUTHORIZED,
                Some(format!("Bearer {realm}error=\"invalid_token\"")),
                json!({"error": "invalid_token", "error_description": INVALID_TOKEN_DESCRIPTION}),
            ),
            Error::InsufficientScope(scope) => {
                let named = quoted(scope)
                    .map(|scope| format!(", scope=\"{scope}\""))
                    .unwrap_or_default();
                (
                    StatusCode::FORBIDDEN,
                    Some(format!("Bearer {realm}error=\"insufficient_scope\"{named}")),
                    json!({
                        "error": "insufficient_scope",
                        "error_description": "the access token does not grant the scope this needs",
                        "scope": scope,
                    }),
                )
            }
            Error::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the access token cannot be checked right now; try again",
                }),
            ),
            Error::Config(_) | Error::Fetch { .. } => {
                tracing::error!(error = %self, "tessera-guard is misconfigured for this route");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    json!({"error": "server_error", "error_description": "internal error"}),
                )
            }
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Without a guard at hand (an extractor's rejection), the challenge has no realm.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.to_response("")
    }
}

/// The refusal of an extractor: the error, answered with the guard's realm.
#[derive(Debug)]
pub struct Rejection {
    error: Error,
    realm: Option<Arc<str>>,
}

impl Rejection {
    /// What was wrong.
    #[must_use]
    pub fn error(&self) -> &Error {
        &self.error
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.error.to_response(self.realm.as_deref().unwrap_or(""))
    }
}

impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Rejection { error, realm: None }
    }
}

/// The realm the layer put in the extensions, for the extractors' answers.
#[derive(Clone, Debug)]
struct Realm(Arc<str>);

/// The verified claims of the request: from [`GuardLayer`] (which verified them already), or
/// verified here by the [`Guard`] in the request's extensions (`.layer(Extension(guard))`).
impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        if let Some(claims) = parts.extensions.get::<Claims>() {
            return Ok(claims.clone());
        }
        let Some(guard) = parts.extensions.get::<Guard>().cloned() else {
            return Err(Error::config(
                "`Claims` needs `GuardLayer` or `Extension(guard)` on the route",
            )
            .into());
        };
        let realm: Arc<str> = guard.shared().realm.as_str().into();
        guard
            .verify_headers(&parts.headers)
            .await
            .map_err(|error| Rejection {
                error,
                realm: Some(realm),
            })
    }
}

/// `Option<Claims>`: `None` without a token, the claims with a good one, the refusal with a bad
/// one (a bad token is never silently taken for no token).
impl<S: Send + Sync> OptionalFromRequestParts<S> for Claims {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Rejection> {
        match <Claims as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(claims) => Ok(Some(claims)),
            Err(Rejection {
                error: Error::MissingToken,
                ..
            }) => Ok(None),
            Err(rejection) => Err(rejection),
        }
    }
}

/// A scope a route needs, named by a type: `struct Write; impl Scope for Write { const NAME:
/// &'static str = "posts:write"; }`, then `RequireScope<Write>` as an extractor.
pub trait Scope: Send + Sync + 'static {
    /// The scope, as it appears in the `scope` claim.
    const NAME: &'static str;
}

/// An extractor: the request's [`Claims`], if they carry the scope `S` (else 403
/// `insufficient_scope` naming it). Dereferences to the claims.
pub struct RequireScope<S: Scope>(pub Claims, PhantomData<S>);

impl<S: Scope> std::fmt::Debug for RequireScope<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequireScope")
            .field(&S::NAME)
            .field(&self.0)
            .finish()
    }
}

impl<S: Scope> Deref for RequireScope<S> {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

impl<T: Send + Sync, S: Scope> FromRequestParts<T> for RequireScope<S> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &T) -> Result<Self, Rejection> {
        let claims = <Claims as FromRequestParts<T>>::from_request_parts(parts, state).await?;
        let realm = parts.extensions.get::<Realm>().map(|realm| realm.0.clone());
        claims
            .require_scope(S::NAME)
            .map_err(|error| Rejection { error, realm })?;
        Ok(RequireScope(claims, PhantomData))
    }
}

/// What a [`GuardLayer`] demands beyond a good token.
#[derive(Clone, Debug)]
enum Requirement {
    Token,
    Scope(Arc<str>),
    Role(Arc<str>),
}

/// A tower layer that lets a request through only with a good token (and, if so made, a scope or
/// role), putting its [`Claims`] in the request's extensions for the handler; anything else is
/// answered here (401, 403, 503). Made by [`Guard::layer`], [`Guard::require_scope`] and
/// [`Guard::require_role`]. Layers nest: a route's `require_scope` inside a router's `layer`
/// reuses the claims the outer one verified.
#[derive(Clone, Debug)]
pub struct GuardLayer {
    guard: Guard,
    realm: Realm,
    requirement: Requirement,
}

impl Guard {
    /// A layer requiring a good token on every request it wraps.
    #[must_use]
    pub fn layer(&self) -> GuardLayer {
        self.layer_for(Requirement::Token)
    }

    /// A layer requiring a good token carrying `scope` in its `scope` claim (403
    /// `insufficient_scope` naming it otherwise).
    #[must_use]
    pub fn require_scope(&self, scope: &str) -> GuardLayer {
        self.layer_for(Requirement::Scope(scope.into()))
    }

    /// A layer requiring a good token carrying `role` in its `roles` claim (403
    /// `insufficient_scope` naming the role otherwise).
    #[must_use]
    pub fn require_role(&self, role: &str) -> GuardLayer {
        self.layer_for(Requirement::Role(role.into()))
    }

    fn layer_for(&self, requirement: Requirement) -> GuardLayer {
        GuardLayer {
            guard: self.clone(),
            realm: Realm(self.shared().realm.as_str().into()),
            requirement,
        }
    }
}

impl<S> tower_layer::Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`GuardLayer`].
#[derive(Clone, Debug)]
pub struct GuardService<S> {
    inner: S,
    layer: GuardLayer,
}

impl Requirement {
    fn check(&self, claims: &Claims) -> Result<(), Error> {
        match self {
            Requirement::Token => Ok(()),
            Requirement::Scope(scope) => claims.require_scope(scope),
            Requirement::Role(role) => claims.require_role(role),
        }
    }
}

impl<S, B> tower_service::Service<Request<B>> for GuardService<S>
where
    S: tower_service::Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was made ready goes to this request; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let verdict = match request.extensions().get::<Claims>() {
                Some(claims) => layer.requirement.check(claims),
                None => match layer.guard.verify_headers(request.headers()).await {
                    Ok(claims) => {
                        let checked = layer.requirement.check(&claims);
                        request.extensions_mut().insert(claims);
                        checked
                    }
                    Err(error) => Err(error),
                },
            };
            match verdict {
                Ok(()) => {
                    request.extensions_mut().insert(layer.realm.clone());
                    inner.call(request).await
                }
                Err(error) => Ok(error.to_response(&layer.realm.0)),
            }
        })
    }
}
