//! `mcp-server/virtual` manifests: an MCP server composed of chosen tools of remote servers, each under a
//! name unique in it, with collaborators of its own. It holds no credentials: the gateway calls each tool
//! through its remote server, with that server's.

use serde::{Deserialize, Serialize};

use super::mcp::check_tool_names;
use super::{check_collaborators, check_description, grants_on, Collaborator, FieldError, Lookup};
use crate::ids::ResourceName;
use crate::model::{Grant, Resource, ResourceKind};

/// One tool of a virtual server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualTool {
    /// The remote MCP server that has the tool.
    pub server: ResourceName,
    /// The tool's name on that server.
    pub tool: String,
    /// The name callers see; `<server>__<tool>` when absent.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub as_name: Option<String>,
}

impl VirtualTool {
    pub fn exposed_name(&self) -> String {
        self.as_name.clone().unwrap_or_else(|| format!("{}__{}", self.server, self.tool))
    }
}

/// A virtual MCP server. Serializes as the manifest's fields without `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpVirtualSpec {
    pub name: ResourceName,
    #[serde(default)]
    pub description: String,
    pub tools: Vec<VirtualTool>,
    #[serde(default)]
    pub collaborators: Vec<Collaborator>,
}

impl McpVirtualSpec {
    pub const MANIFEST_TYPE: &'static str = "mcp-server/virtual";
    /// The most tools one virtual server composes.
    pub const MAX_TOOLS: usize = 256;

    pub fn collaborators(&self) -> &[Collaborator] {
        &self.collaborators
    }

    /// `mcp-server:<name>`: virtual and remote servers share one namespace and one set of roles.
    pub fn resource(&self) -> Resource {
        Resource::new(ResourceKind::McpServer, self.name.as_str())
    }

    pub fn grants(&self) -> impl Iterator<Item = Grant> + '_ {
        grants_on(&self.collaborators, self.resource())
    }

    /// The servers whose tools this one exposes, each once.
    pub fn servers(&self) -> Vec<&ResourceName> {
        let mut out: Vec<&ResourceName> = self.tools.iter().map(|t| &t.server).collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        check_description("description", &self.description)?;
        if self.tools.is_empty() {
            return Err(FieldError::new("tools", "must name at least one tool"));
        }
        if self.tools.len() > Self::MAX_TOOLS {
            return Err(FieldError::new("tools", format!("must name at most {} tools", Self::MAX_TOOLS)));
        }
        for (i, t) in self.tools.iter().enumerate() {
            if t.server == self.name {
                return Err(FieldError::new(format!("tools[{i}].server"), "a virtual server cannot use itself"));
            }
            check_tool_names(&format!("tools[{i}].tool"), std::iter::once(t.tool.as_str()))
                .map_err(|e| FieldError::new(format!("tools[{i}].tool"), e.message))?;
        }
        let exposed: Vec<String> = self.tools.iter().map(VirtualTool::exposed_name).collect();
        check_tool_names("tools", exposed.iter().map(String::as_str)).map_err(|e| {
            let at = e.path.to_string();
            FieldError::new(format!("{at}.as"), format!("{}: names must be unique; set `as`", e.message))
        })?;
        check_collaborators(&self.collaborators, ResourceKind::McpServer, world)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_world::{fails_at, world};
    use super::*;

    fn parse(v: serde_json::Value) -> McpVirtualSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn names_default_to_server_and_tool_and_must_be_unique() {
        let v = parse(json!({"name": "triage", "tools": [
            {"server": "github", "tool": "search"}, {"server": "jira", "tool": "search", "as": "find_issue"}],
            "collaborators": [{"subject": "team:ml-platform", "role": "mcp-server-user"}]}));
        v.validate(&world()).unwrap();
        let names: Vec<String> = v.tools.iter().map(VirtualTool::exposed_name).collect();
        assert_eq!(names, ["github__search", "find_issue"]);
        assert_eq!(v.servers().len(), 2);
        let out = serde_json::to_value(&v).unwrap();
        assert_eq!(out["tools"][1]["as"], "find_issue");
        assert!(out["tools"][0].get("as").is_none());

        let twice = parse(json!({"name": "t", "tools": [
            {"server": "a", "tool": "x", "as": "x"}, {"server": "b", "tool": "x", "as": "x"}]}));
        let msg = fails_at(twice.validate(&world()), "tools[1].as");
        assert!(msg.contains("listed twice"), "{msg}");
        fails_at(parse(json!({"name": "t", "tools": []})).validate(&world()), "tools");
        fails_at(
            parse(json!({"name": "t", "tools": [{"server": "t", "tool": "x"}]})).validate(&world()),
            "tools[0].server",
        );
        fails_at(
            parse(json!({"name": "t", "tools": [{"server": "a", "tool": "x y"}]})).validate(&world()),
            "tools[0].tool",
        );
        assert!(serde_json::from_value::<McpVirtualSpec>(json!({"name": "t", "tools": [], "url": "x"})).is_err());
    }
}
