//! Starting a peer process (an upstream IdP) that prints `READY …` once it
//! listens and exits when its stdin closes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Spawns `cmd` and waits (bounded) for its `READY` line; returns the child
/// and the words after `READY`.
pub fn spawn_ready(mut cmd: Command, what: &str) -> (Child, Vec<String>) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what} ({e}); scripts/deps.sh test installs the peers"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} did not start"));
    let words: Vec<String> = line.split_whitespace().map(String::from).collect();
    assert_eq!(words.first().map(String::as_str), Some("READY"), "{what} said: {line}");
    (child, words[1..].to_vec())
}

/// Stops a peer: closes its stdin, then kills it.
pub fn stop(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        drop(c.stdin.take());
        let _ = c.kill();
        let _ = c.wait();
    }
}
