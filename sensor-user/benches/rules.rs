//! Rule evaluation throughput with the default pack: the events that reach userspace
//! (store opens by thieves and by owners, look-alike names the kernel lets through).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokenwarden::detect::rules::{Facts, RuleSet, embedded_default};

fn events() -> Vec<(Vec<&'static str>, &'static str, &'static str)> {
    vec![
        (vec!["/home/alice/.aws/credentials"], "/usr/bin/cat", "/usr/bin/bash"),
        (vec!["/home/alice/.aws/credentials"], "/usr/local/bin/aws", "/usr/bin/bash"),
        (vec!["/home/alice/project/.git/config"], "/usr/bin/git", "/usr/bin/bash"),
        (vec!["/root/.kube/config"], "/usr/local/bin/kubectl", "/usr/bin/bash"),
        (vec!["/home/bob/.ssh/id_ed25519"], "/usr/bin/ssh", "/usr/bin/bash"),
        (vec!["/home/bob/.ssh/id_ed25519.pub"], "/usr/bin/cat", "/usr/bin/bash"),
        (vec!["/etc/shadow"], "/usr/sbin/unix_chkpwd", "/usr/sbin/sshd"),
        (vec!["/var/cache/apt/pkgcache.bin"], "/usr/bin/apt", "/usr/bin/bash"),
        (
            vec!["/home/alice/.config/google-chrome/Default/Cookies"],
            "/opt/google/chrome/chrome",
            "/usr/lib/systemd/systemd",
        ),
        (
            vec!["/home/alice/notes-backup.txt", "/home/alice/.aws/credentials"],
            "/usr/bin/python3.11",
            "/usr/bin/bash",
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let set = RuleSet::compile(&[embedded_default()]).expect("default pack");
    let evs = events();
    let facts: Vec<Facts<'_>> = evs
        .iter()
        .map(|(paths, exe, parent)| Facts {
            paths: paths.clone(),
            executable: exe,
            parent_executable: parent,
            ancestors: vec![parent, "/usr/sbin/sshd"],
            uid: 1000,
            euid: 1000,
            file_uid: 1000,
            ..Facts::default()
        })
        .collect();
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(facts.len() as u64));
    g.bench_function("match_event_default_pack", |b| {
        b.iter(|| {
            for f in &facts {
                black_box(set.match_event(black_box(f)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
