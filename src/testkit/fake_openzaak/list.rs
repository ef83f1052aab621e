//! `GET /zaken/api/v1/zaakobjecten`: the ZaakObjects, filtered and paginated as Open Zaak 1.30.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{answer, authorized, down, Inner, ZaakObject};

pub(super) async fn zaakobjecten(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let q: HashMap<String, String> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let delay = inner.lock().expect("lock").read_delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let (response, wait) = list(&inner, &headers, &q);
    if let Some(w) = wait {
        tokio::time::sleep(w).await;
    }
    response
}

/// The answer to a zaakobjecten GET, and how long to wait before giving it.
fn list(
    inner: &Mutex<Inner>,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> (Response, Option<Duration>) {
    let mut s = inner.lock().expect("lock");
    s.reads += 1;
    let page = match page_asked(&s, headers, q) {
        Ok(page) => page,
        Err((status, detail)) => return (answer(status, detail), None),
    };
    let size = q
        .get("pageSize")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(100)
        .min(500);
    let matching: Vec<&ZaakObject> = s
        .objects
        .iter()
        .filter(|o| q.get("zaak").is_none_or(|z| *z == o.zaak))
        .filter(|o| q.get("object").is_none_or(|x| *x == o.object))
        .filter(|_| q.get("objectType").is_none_or(|t| t == "overige"))
        .collect();
    let count = matching.len();
    let start = (page as usize - 1) * size;
    if start >= count && page > 1 {
        return (answer(404, "Ongeldige pagina."), None);
    }
    let next = (start + size < count).then(|| page_link(&s.base, q, page + 1));
    let previous = (page > 1).then(|| page_link(&s.base, q, page - 1));
    let results: Vec<Value> = matching
        .into_iter()
        .skip(start)
        .take(size)
        .map(|o| as_json(&s.base, o))
        .collect();
    let wait = s.per_listed.map(|d| d * results.len() as u32);
    (
        axum::Json(json!({"count": count, "next": next, "previous": previous, "results": results}))
            .into_response(),
        wait,
    )
}

/// The page asked for, or the status and detail that refuse the read (down, no or a bad token, no
/// `zaken.lezen`, a page number that is none, an injected page failure).
fn page_asked(
    s: &Inner,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<u32, (u16, &'static str)> {
    if down(s) {
        return Err((503, "down"));
    }
    if !authorized(s, headers) {
        return Err((
            403,
            "Authentication credentials were not provided or are invalid.",
        ));
    }
    if s.refuse_reads {
        // as Open Zaak answers an Applicatie without zaken.lezen
        return Err((403, "U heeft geen toestemming om deze actie uit te voeren."));
    }
    let page: u32 = match q.get("page").map(|p| p.parse::<u32>()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        Some(_) => return Err((404, "Ongeldige pagina.")),
    };
    if q.keys().all(|k| k == "page" || k == "pageSize") {
        if let Some(&status) = s.failing_pages.get(&page) {
            return Err((status, "injected failure"));
        }
    }
    Ok(page)
}

/// The URL of page `page` of the same query.
fn page_link(base: &str, q: &HashMap<String, String>, page: u32) -> String {
    let mut pairs: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| *k != "page")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    pairs.push(("page".into(), page.to_string()));
    pairs.sort();
    let qs = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{base}/zaken/api/v1/zaakobjecten?{qs}")
}

/// A ZaakObject as Open Zaak lists it.
fn as_json(base: &str, o: &ZaakObject) -> Value {
    json!({
        "url": format!("{base}/zaken/api/v1/zaakobjecten/{}", o.uuid),
        "uuid": o.uuid,
        "zaak": o.zaak,
        "object": o.object,
        "objectType": "overige",
        "objectTypeOverige": o.object_type_overige,
        "relatieomschrijving": o.relatieomschrijving,
    })
}
