//! What rules see of an event: the fields conditions, exceptions and tests refer to,
//! named as in the ECS output.

/// A field a condition can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    ProcessExecutable,
    ProcessName,
    ProcessCommandLine,
    ProcessPid,
    ProcessUserId,
    ProcessEffectiveUserId,
    ProcessParentExecutable,
    ProcessAncestorsExecutable,
    LoginUid,
    SessionId,
    FilePath,
    FileName,
    FileDirectory,
    FileUid,
    FileWrite,
}

/// (name, field, is numeric).
pub const FIELDS: &[(&str, Field, Kind)] = &[
    ("process.executable", Field::ProcessExecutable, Kind::Str),
    ("process.name", Field::ProcessName, Kind::Str),
    ("process.command_line", Field::ProcessCommandLine, Kind::Str),
    ("process.pid", Field::ProcessPid, Kind::Num),
    ("process.user.id", Field::ProcessUserId, Kind::Num),
    ("process.effective_user.id", Field::ProcessEffectiveUserId, Kind::Num),
    ("process.parent.executable", Field::ProcessParentExecutable, Kind::Str),
    ("process.ancestors.executable", Field::ProcessAncestorsExecutable, Kind::Str),
    ("tokenwarden.process.loginuid", Field::LoginUid, Kind::Num),
    ("tokenwarden.process.sessionid", Field::SessionId, Kind::Num),
    ("file.path", Field::FilePath, Kind::Str),
    ("file.name", Field::FileName, Kind::Str),
    ("file.directory", Field::FileDirectory, Kind::Str),
    ("file.uid", Field::FileUid, Kind::Num),
    ("file.write", Field::FileWrite, Kind::Bool),
];

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Num,
    Bool,
}

impl Field {
    pub fn parse(name: &str) -> Option<(Field, Kind)> {
        FIELDS.iter().find(|(n, _, _)| *n == name).map(|(_, f, k)| (*f, *k))
    }

    pub fn name(self) -> &'static str {
        FIELDS.iter().find(|(_, f, _)| *f == self).map_or("?", |(n, _, _)| n)
    }
}

/// The facts of one file-open event.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// The path the kernel resolved, then every other path of the same inode.
    pub paths: Vec<&'a str>,
    pub executable: &'a str,
    pub name: &'a str,
    pub command_line: &'a str,
    pub pid: u32,
    pub uid: u32,
    pub euid: u32,
    pub loginuid: Option<u32>,
    pub sessionid: Option<u32>,
    pub parent_executable: &'a str,
    /// Executables of the ancestors, nearest first.
    pub ancestors: Vec<&'a str>,
    pub file_uid: u32,
    pub file_write: bool,
}

/// One value of a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'a> {
    Str(&'a str),
    Num(u64),
    Bool(bool),
}

impl<'a> Facts<'a> {
    /// Calls `f` with each value of `field` until it returns true; returns whether one did.
    /// Multi-valued fields (`file.*` over every path of the inode, ancestors) match when
    /// any value does.
    pub fn any(&self, field: Field, mut f: impl FnMut(Val<'a>) -> bool) -> bool {
        let num = |v: Option<u32>| v.map(|v| Val::Num(u64::from(v)));
        match field {
            Field::ProcessExecutable => f(Val::Str(self.executable)),
            Field::ProcessName => f(Val::Str(self.name)),
            Field::ProcessCommandLine => f(Val::Str(self.command_line)),
            Field::ProcessPid => f(Val::Num(u64::from(self.pid))),
            Field::ProcessUserId => f(Val::Num(u64::from(self.uid))),
            Field::ProcessEffectiveUserId => f(Val::Num(u64::from(self.euid))),
            Field::ProcessParentExecutable => f(Val::Str(self.parent_executable)),
            Field::ProcessAncestorsExecutable => self.ancestors.iter().any(|a| f(Val::Str(a))),
            Field::LoginUid => num(self.loginuid).is_some_and(f),
            Field::SessionId => num(self.sessionid).is_some_and(f),
            Field::FilePath => self.paths.iter().any(|p| f(Val::Str(p))),
            Field::FileName => self.paths.iter().any(|p| f(Val::Str(p.rsplit('/').next().unwrap_or(p)))),
            Field::FileDirectory => {
                self.paths.iter().any(|p| f(Val::Str(p.rsplit_once('/').map_or("", |(d, _)| d))))
            }
            Field::FileUid => f(Val::Num(u64::from(self.file_uid))),
            Field::FileWrite => f(Val::Bool(self.file_write)),
        }
    }

    /// The login user: audit loginuid, or the real uid when no login set it.
    pub fn login_user(&self) -> u32 {
        self.loginuid.unwrap_or(self.uid)
    }
}
