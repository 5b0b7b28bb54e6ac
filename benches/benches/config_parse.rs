//! Parsing a large dovecot.conf: 1,000 sections (plugin, protocol filters, named sections,
//! 2.4 named filters), then computing the effective settings and the driver list.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pn_config::{Config, ParseOptions};

fn generated_config(sections: usize) -> String {
    let mut text = String::from("mail_plugins = $mail_plugins notify\n");
    for i in 0..sections {
        match i % 4 {
            0 => text.push_str(&format!(
                "plugin {{\n  push_notification_driver{n} = ox:url=http://h{i}/ cache_lifetime=1m # c\n  quota_rule{i} = *:storage=1G\n}}\n",
                n = if i == 0 { String::new() } else { (i / 4 + 1).to_string() }
            )),
            1 => text.push_str(&format!(
                "protocol {p} {{\n  mail_plugins = $mail_plugins push_notification\n  setting_{i} = \"quoted value {i}\"\n}}\n",
                p = ["lmtp", "lda", "imap", "!pop3"][i % 16 / 4]
            )),
            2 => text.push_str(&format!(
                "namespace ns{i} {{\n  prefix = NS{i}/\n  mailbox \"Box {i}\" {{\n    special_use = \\Sent\n    auto = subscribe\n  }}\n}}\n"
            )),
            _ => text.push_str(&format!(
                "push_notification f{i} {{\n  push_notification_driver = dlog\n  extra_{i} = value \\\n    continued\n}}\n"
            )),
        }
    }
    text
}

fn bench(c: &mut Criterion) {
    let text = generated_config(1000);
    let options = ParseOptions::default();
    let mut group = c.benchmark_group("config_parse");
    group.throughput(Throughput::Bytes(text.len() as u64));
    // What any reader of the file pays: one pass over its lines. The parse is reported as a
    // multiple of it.
    group.bench_function("baseline", |b| {
        b.iter(|| black_box(&text).lines().map(str::len).sum::<usize>())
    });
    group.bench_function("parse_1000_sections", |b| {
        b.iter(|| Config::parse_str(black_box(&text), Path::new("big.conf"), &options))
    });
    let config = match Config::parse_str(&text, Path::new("big.conf"), &options) {
        Ok(c) => c,
        Err(e) => panic!("generated config must parse: {e}"),
    };
    group.bench_function("effective_lmtp_and_drivers", |b| {
        b.iter(|| {
            let s = black_box(&config).effective("lmtp");
            s.drivers().map(|d| d.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
