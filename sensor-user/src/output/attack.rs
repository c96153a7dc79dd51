//! MITRE ATT&CK names for the technique ids rules use.

/// (id, name, tactic id, tactic name).
const TECHNIQUES: &[(&str, &str, &str, &str)] = &[
    ("T1003", "OS Credential Dumping", "TA0006", "Credential Access"),
    ("T1003.007", "Proc Filesystem", "TA0006", "Credential Access"),
    ("T1003.008", "/etc/passwd and /etc/shadow", "TA0006", "Credential Access"),
    ("T1528", "Steal Application Access Token", "TA0006", "Credential Access"),
    ("T1539", "Steal Web Session Cookie", "TA0006", "Credential Access"),
    ("T1552", "Unsecured Credentials", "TA0006", "Credential Access"),
    ("T1552.001", "Credentials In Files", "TA0006", "Credential Access"),
    ("T1552.004", "Private Keys", "TA0006", "Credential Access"),
    ("T1555", "Credentials from Password Stores", "TA0006", "Credential Access"),
    ("T1555.003", "Credentials from Web Browsers", "TA0006", "Credential Access"),
    ("T1558", "Steal or Forge Kerberos Tickets", "TA0006", "Credential Access"),
    ("T1558.005", "Ccache Files", "TA0006", "Credential Access"),
    ("T1550", "Use Alternate Authentication Material", "TA0008", "Lateral Movement"),
    ("T1550.001", "Application Access Token", "TA0008", "Lateral Movement"),
    ("T1563", "Remote Service Session Hijacking", "TA0008", "Lateral Movement"),
    ("T1563.001", "SSH Hijacking", "TA0008", "Lateral Movement"),
    ("T1041", "Exfiltration Over C2 Channel", "TA0010", "Exfiltration"),
    ("T1567", "Exfiltration Over Web Service", "TA0010", "Exfiltration"),
];

/// Name and tactic of a technique id, when known.
pub fn lookup(id: &str) -> Option<(&'static str, &'static str, &'static str)> {
    TECHNIQUES.iter().find(|t| t.0 == id).map(|t| (t.1, t.2, t.3))
}

/// Splits a (sub)technique id into its parent technique id.
pub fn parent(id: &str) -> &str {
    id.split('.').next().unwrap_or(id)
}
