//! `api-docs`: prints the OpenAPI document; `api-docs write` writes it to
//! `api-docs/openapi.json` and the event schemas to `api-docs/events/` (`make openapi`).

use std::path::Path;

fn main() -> std::io::Result<()> {
    if std::env::args().nth(1).as_deref() != Some("write") {
        print!("{}", api_docs::render());
        return Ok(());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::write(root.join(api_docs::COMMITTED), api_docs::render())?;
    let events = root.join(api_docs::EVENTS_DIR);
    std::fs::create_dir_all(&events)?;
    for (name, text) in api_docs::event_schemas() {
        std::fs::write(events.join(name), text)?;
    }
    Ok(())
}
