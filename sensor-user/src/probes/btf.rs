//! Kernel struct offsets from the running kernel's BTF (`/sys/kernel/btf/vmlinux`), so
//! one binary runs on every BTF-enabled kernel without headers at build time.

use btf_rs::{Btf, Type};
use sensor_common::KernelOffsets;

/// Where the kernel publishes its own type information.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("cannot read kernel BTF at {path}: {source} (kernel built without CONFIG_DEBUG_INFO_BTF?)")]
    Read { path: String, source: btf_rs::Error },
    #[error("kernel BTF has no struct {0}")]
    NoStruct(String),
    #[error("kernel BTF: struct {0} has no field {1}")]
    NoField(String, String),
    #[error("kernel BTF: field {0}.{1} is a bitfield or not byte aligned")]
    Unaligned(String, String),
    #[error("kernel BTF lookup failed: {0}")]
    Lookup(#[from] btf_rs::Error),
}

/// Reads every offset the programs need.
pub fn kernel_offsets(self_tgid: u32) -> Result<KernelOffsets, BtfError> {
    let btf =
        Btf::from_file(VMLINUX_BTF).map_err(|source| BtfError::Read { path: VMLINUX_BTF.into(), source })?;
    let f = |s: &str, field: &str| field_offset(&btf, s, field);
    Ok(KernelOffsets {
        valid: 1,
        self_tgid,
        task_tgid: f("task_struct", "tgid")?,
        task_pid: f("task_struct", "pid")?,
        task_real_parent: f("task_struct", "real_parent")?,
        task_group_leader: f("task_struct", "group_leader")?,
        task_files: f("task_struct", "files")?,
        task_cred: f("task_struct", "cred")?,
        task_mm: f("task_struct", "mm")?,
        task_comm: f("task_struct", "comm")?,
        task_loginuid: f("task_struct", "loginuid")?,
        task_sessionid: f("task_struct", "sessionid")?,
        task_start_boottime: f("task_struct", "start_boottime")?,
        task_exit_code: f("task_struct", "exit_code")?,
        cred_uid: f("cred", "uid")?,
        cred_gid: f("cred", "gid")?,
        cred_euid: f("cred", "euid")?,
        cred_egid: f("cred", "egid")?,
        files_fdt: f("files_struct", "fdt")?,
        fdt_fd: f("fdtable", "fd")?,
        fdt_max_fds: f("fdtable", "max_fds")?,
        file_f_path: f("file", "f_path")?,
        file_f_inode: f("file", "f_inode")?,
        file_f_flags: f("file", "f_flags")?,
        path_mnt: f("path", "mnt")?,
        path_dentry: f("path", "dentry")?,
        dentry_d_parent: f("dentry", "d_parent")?,
        dentry_d_name: f("dentry", "d_name")?,
        qstr_name: f("qstr", "name")?,
        dentry_d_iname: f("dentry", "d_shortname").or_else(|_| f("dentry", "d_iname"))?,
        inode_i_ino: f("inode", "i_ino")?,
        inode_i_sb: f("inode", "i_sb")?,
        inode_i_mode: f("inode", "i_mode")?,
        inode_i_uid: f("inode", "i_uid")?,
        sb_s_dev: f("super_block", "s_dev")?,
        mount_mnt: f("mount", "mnt")?,
        mount_mnt_parent: f("mount", "mnt_parent")?,
        mount_mnt_mountpoint: f("mount", "mnt_mountpoint")?,
        vfsmount_mnt_root: f("vfsmount", "mnt_root")?,
        mm_arg_start: f("mm_struct", "arg_start")?,
        mm_arg_end: f("mm_struct", "arg_end")?,
        bprm_file: f("linux_binprm", "file")?,
        bprm_filename: f("linux_binprm", "filename")?,
        file_private_data: f("file", "private_data")?,
        socket_sk: f("socket", "sk")?,
        skc_rcv_saddr: f("sock_common", "skc_rcv_saddr")?,
        skc_num: f("sock_common", "skc_num")?,
        skc_v6_rcv_saddr: f("sock_common", "skc_v6_rcv_saddr")?,
        skc_family: f("sock_common", "skc_family")?,
        regs_arg: [
            f("pt_regs", "di")?,
            f("pt_regs", "si")?,
            f("pt_regs", "dx")?,
            f("pt_regs", "r10")?,
            f("pt_regs", "r8")?,
        ],
    })
}

/// Byte offset of `field` in `struct name`, looking through anonymous struct/union members.
pub fn field_offset(btf: &Btf, name: &str, field: &str) -> Result<u32, BtfError> {
    let mut last_err = BtfError::NoStruct(name.into());
    for ty in btf.resolve_types_by_name(name).unwrap_or_default() {
        let (Type::Struct(st) | Type::Union(st)) = &ty else {
            continue;
        };
        match find_member(btf, st, field, 0)? {
            Some(bits) if bits % 8 == 0 => return Ok(bits / 8),
            Some(_) => return Err(BtfError::Unaligned(name.into(), field.into())),
            None => last_err = BtfError::NoField(name.into(), field.into()),
        }
    }
    Err(last_err)
}

/// Bit offset of `field` within `st`, recursing into unnamed members.
fn find_member(btf: &Btf, st: &btf_rs::Struct, field: &str, base_bits: u32) -> Result<Option<u32>, BtfError> {
    for m in &st.members {
        let name = btf.resolve_name(m).unwrap_or_default();
        if name == field {
            if m.bitfield_size().is_some_and(|s| s != 0) {
                return Ok(None);
            }
            return Ok(Some(base_bits + m.bit_offset()));
        }
        if name.is_empty() {
            let mut ty = btf.resolve_chained_type(m)?;
            // Unnamed members are structs/unions, possibly behind modifiers.
            for _ in 0..8 {
                match ty {
                    Type::Const(_) | Type::Volatile(_) | Type::Typedef(_) | Type::TypeTag(_) => {
                        let Some(bt) = ty.as_btf_type() else { break };
                        ty = btf.resolve_chained_type(bt)?;
                    }
                    _ => break,
                }
            }
            if let Type::Struct(inner) | Type::Union(inner) = &ty
                && let Some(bits) = find_member(btf, inner, field, base_bits + m.bit_offset())?
            {
                return Ok(Some(bits));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_kernel_offsets_resolve() {
        if !std::path::Path::new(VMLINUX_BTF).exists() {
            assert!(std::env::var("CI").is_err(), "CI kernel must expose {VMLINUX_BTF}");
            eprintln!("skipped: no {VMLINUX_BTF}");
            return;
        }
        let o = kernel_offsets(1).expect("offsets");
        assert_eq!(o.valid, 1);
        // qstr.name sits after the 8-byte hash_len union on every 64-bit kernel.
        assert_eq!(o.qstr_name, 8, "qstr.name found through the anonymous union");
        assert!(o.task_tgid > 0 && o.task_pid > 0 && o.task_tgid != o.task_pid);
        assert!(o.mount_mnt > 0, "vfsmount is embedded after mnt_parent/mnt_mountpoint");
    }
}
