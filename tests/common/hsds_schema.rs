//! Validating JSON against the HSDS 3.0 JSON Schemas in ../shared/data.
//!
//! The schemas refer to each other by file name (`"$ref": "phone.json"`);
//! the retriever here serves them from the schema folder, and nothing is
//! fetched from the network.

use std::path::PathBuf;

use serde_json::Value;

struct SchemaFolder(PathBuf);

impl jsonschema::Retrieve for SchemaFolder {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .path()
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(self.0.join(&name))
            .map_err(|e| format!("schema {name}: {e}"))?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// Every way `services` (a JSON list of HSDS services) breaks the HSDS
/// `service` schema, as "path: message" lines; empty when it is valid.
pub fn service_list_errors(schema_folder: &std::path::Path, services: &Value) -> Vec<String> {
    let text = std::fs::read_to_string(schema_folder.join("service.json")).expect("service.json");
    let schema: Value = serde_json::from_str(&text).expect("service.json is JSON");
    let validator = jsonschema::options()
        .with_base_uri("file:///hsds/service.json")
        .with_retriever(SchemaFolder(schema_folder.to_owned()))
        .build(&schema)
        .expect("the HSDS service schema compiles");
    let Some(list) = services.as_array() else {
        return vec!["the export is not a JSON list".to_owned()];
    };
    let mut errors = Vec::new();
    for (index, service) in list.iter().enumerate() {
        for error in validator.iter_errors(service) {
            errors.push(format!("[{index}]{}: {error}", error.instance_path()));
        }
    }
    errors
}
