//! `when.mcp_servers` entries: an MCP server (`github`), or one tool of it (`github/search_issues`), as
//! callers reach them at `/mcp/<server>`: a virtual server's tools by the names it exposes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::ResourceName;
use crate::spec::MAX_TOOL_NAME;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct McpToolRef {
    pub server: ResourceName,
    /// `None`: every tool of the server.
    pub tool: Option<String>,
}

impl fmt::Display for McpToolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tool {
            Some(t) => write!(f, "{}/{t}", self.server),
            None => write!(f, "{}", self.server),
        }
    }
}

impl fmt::Debug for McpToolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl FromStr for McpToolRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (server, tool) = match s.split_once('/') {
            Some((server, tool)) => (server, Some(tool)),
            None => (s, None),
        };
        let server =
            ResourceName::new(server).map_err(|e| format!("{s:?} must be <server> or <server>/<tool>: {}", e.rule))?;
        if let Some(t) = tool {
            let ok = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
            if t.is_empty() || t.len() > MAX_TOOL_NAME || !t.chars().all(ok) {
                return Err(format!(
                    "{s:?}: {t:?} is not a tool name: 1 to {MAX_TOOL_NAME} letters, digits, '_', '-' or '.'"
                ));
            }
        }
        Ok(McpToolRef { server, tool: tool.map(str::to_owned) })
    }
}

impl Serialize for McpToolRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for McpToolRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}
