//! Prints the OpenAPI document (`make openapi` writes it to `api-docs/openapi.json`).

fn main() {
    print!("{}", api_docs::render());
}
