//! Deterministic sample data: customers, media types, and volumes grouped by customer and media.

use crate::ffi::Server;
use anyhow::Context;
use std::path::Path;

const MEDIA: &[(&str, &str)] = &[
    ("LTO-5", "LTO Ultrium 5, 1.5 TB"),
    ("LTO-6", "LTO Ultrium 6, 2.5 TB"),
    ("LTO-7", "LTO Ultrium 7, 6 TB"),
    ("LTO-8", "LTO Ultrium 8, 12 TB"),
    ("LTO-9", "LTO Ultrium 9, 18 TB"),
    ("3592", "IBM 3592 JE"),
];

/// The records `seed` writes, as (key, value) per table; used by tests to know what to expect.
pub fn records(customers: usize, volumes: usize) -> [Vec<(String, String)>; 3] {
    let customers = customers.max(1);
    let cust = (0..customers)
        .map(|c| (format!("C{c:05}"), format!("Customer {c} Pty Ltd")))
        .collect();
    let media = MEDIA
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let vols = (0..volumes)
        .map(|i| {
            let c = i * customers / volumes.max(1);
            let m = MEDIA[(i / 50) % MEDIA.len()].0;
            let status = ["onsite", "offsite", "in-transit", "scratch"][i % 4];
            (
                format!("V{i:07}"),
                format!(
                    "customer=C{c:05} media={m} status={status} slot={}",
                    i % 997
                ),
            )
        })
        .collect();
    [cust, media, vols]
}

/// Opens `home` standalone and writes the sample data.
pub fn run(home: &Path, customers: usize, volumes: usize) -> anyhow::Result<()> {
    let home_s = home.to_str().context("home path must be UTF-8")?;
    let msg = home.join("$DB_Msg.txt");
    let server = Server::open(home_s, msg.to_str().unwrap(), false)
        .with_context(|| format!("opening {}", home.display()))?;
    server.create_all()?;
    let [c, m, v] = records(customers, volumes);
    server.put_many("customers.db", &c, 1000)?;
    server.put_many("media.db", &m, 1000)?;
    server.put_many("volumes.db", &v, 1000)?;
    let rc = server.close();
    anyhow::ensure!(rc == 0, "closing the environment failed ({rc})");
    println!(
        "seeded {}: {customers} customers, {} media types, {volumes} volumes",
        home.display(),
        MEDIA.len()
    );
    Ok(())
}
