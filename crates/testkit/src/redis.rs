//! Debian's `redis-server` and `redis-sentinel` on 127.0.0.1, each in a temp dir with its own
//! config file and process group (killed on drop): a password, an ACL user, TLS with client
//! certificates, a replica, and sentinels tuned to fail over within a few seconds. A small RESP
//! client reads what the code under test wrote.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::ExtendedKeyUsagePurpose;
use rustix::process::{kill_process_group, Pid, Signal};
use tempfile::TempDir;

use crate::{Ca, Leaf};

/// The master group name the sentinels monitor.
pub const MASTER: &str = "mymaster";
/// How long a start or a readiness condition may take before the test fails (a bound against
/// hanging, not an expectation).
const PATIENCE: Duration = Duration::from_secs(60);

/// The programs these fixtures run.
#[derive(Clone)]
pub struct Tools {
    pub server: PathBuf,
    pub sentinel: PathBuf,
}

impl Tools {
    /// The tools, or `None` (reason printed) outside CI; under `CI=true` a missing one fails.
    pub fn find() -> Option<Self> {
        let [server, sentinel] = crate::tools(["redis-server", "redis-sentinel"])?;
        Some(Self { server, sentinel })
    }
}

/// How a server is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `requirepass` (the `default` user's password).
    pub password: Option<String>,
    /// An ACL user with every permission: (name, password); the default user is disabled.
    pub user: Option<(String, String)>,
    /// TLS with client certificates required on [`Instance::port`]; the fixture's own
    /// [`Instance::command`] keeps a plain loopback port. Replication (and a sentinel's
    /// connections to the servers) use TLS too.
    pub tls: bool,
    /// Replicate the server on this port, with the same credentials.
    pub replica_of: Option<u16>,
}

/// The TLS files of a TLS server: its CA, and a client pair that CA issued.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// A running `redis-server` or `redis-sentinel`.
pub struct Instance {
    /// The port clients use (TLS when the instance has TLS).
    pub port: u16,
    pub tls: Option<TlsFiles>,
    /// The plain port [`Instance::command`] uses.
    plain: u16,
    /// The credentials [`Instance::command`] authenticates with.
    auth: Vec<String>,
    bin: PathBuf,
    config: PathBuf,
    dir: TempDir,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Instance {
    /// A server with `options`, listening when this returns.
    pub fn server(tools: &Tools, options: &Options) -> Self {
        let ca = options.tls.then(|| Ca::new("redis test CA"));
        Self::server_in(tools, options, ca.as_ref())
    }

    fn server_in(tools: &Tools, options: &Options, ca: Option<&Ca>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = format!(
            "bind 127.0.0.1\ndir {}\nsave \"\"\nappendonly no\nlogfile {}\n",
            dir.path().display(),
            dir.path().join("redis.log").display()
        );
        let (port, plain, tls) = listen(&mut config, dir.path(), ca);
        let mut auth = vec![];
        if let Some(password) = &options.password {
            config += &format!("requirepass {password}\nmasterauth {password}\n");
            auth = vec![password.clone()];
        }
        if let Some((user, password)) = &options.user {
            // The default user is turned off, so only the ACL user gets in.
            config += &format!(
                "user {user} on >{password} ~* &* +@all\nuser default off\n\
                 masteruser {user}\nmasterauth {password}\n"
            );
            auth = vec![user.clone(), password.clone()];
        }
        if let Some(master) = options.replica_of {
            config += &format!("replicaof 127.0.0.1 {master}\n");
        }
        Self::launch(&tools.server, dir, (port, plain), &config, tls, auth)
    }

    /// A sentinel monitoring `master` (whose credentials it uses) with quorum `quorum`,
    /// declaring it down after 1 s; `password` protects the sentinel itself. A sentinel of a
    /// TLS master speaks TLS, with certificates from `ca`.
    fn sentinel(
        tools: &Tools,
        master: &Instance,
        quorum: u32,
        password: Option<&str>,
        ca: Option<&Ca>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = format!(
            "bind 127.0.0.1\ndir {}\nlogfile {}\n",
            dir.path().display(),
            dir.path().join("sentinel.log").display(),
        );
        let (port, plain, tls) = listen(&mut config, dir.path(), ca);
        config += &format!(
            "sentinel monitor {MASTER} 127.0.0.1 {} {quorum}\n\
             sentinel down-after-milliseconds {MASTER} 1000\n\
             sentinel failover-timeout {MASTER} 3000\n\
             sentinel parallel-syncs {MASTER} 1\n",
            master.port
        );
        match master.auth.as_slice() {
            [password] => config += &format!("sentinel auth-pass {MASTER} {password}\n"),
            [user, password] => {
                config += &format!(
                    "sentinel auth-user {MASTER} {user}\nsentinel auth-pass {MASTER} {password}\n"
                )
            }
            _ => {}
        }
        let mut auth = vec![];
        if let Some(password) = password {
            config += &format!("requirepass {password}\n");
            auth = vec![password.to_string()];
        }
        Self::launch(&tools.sentinel, dir, (port, plain), &config, tls, auth)
    }

    fn launch(
        bin: &Path,
        dir: TempDir,
        (port, plain): (u16, u16),
        config: &str,
        tls: Option<TlsFiles>,
        auth: Vec<String>,
    ) -> Self {
        let path = dir.path().join("redis.conf");
        std::fs::write(&path, config).unwrap();
        let mut instance = Self {
            port,
            tls,
            plain,
            auth,
            bin: bin.to_path_buf(),
            config: path,
            dir,
            child: None,
        };
        instance.start();
        instance
    }

    /// Starts the process again (after [`Instance::stop`] or [`Instance::kill`]) on the same
    /// port and configuration; listening when this returns.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        use std::os::unix::process::CommandExt;
        let child = Command::new(&self.bin)
            .arg(&self.config)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err()
            || TcpStream::connect(("127.0.0.1", self.plain)).is_err()
        {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "{} exited with {status}: {}",
                    self.bin.display(),
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not listening: {}",
                self.bin.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&mut self, signal: Signal) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32).unwrap();
            let _ = kill_process_group(pid, signal);
            let _ = child.wait();
        }
    }

    /// Stops the process the polite way (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        self.signal(Signal::TERM);
    }

    /// Kills the process (SIGKILL), as a crash.
    pub fn kill(&mut self) {
        self.signal(Signal::KILL);
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        if let Some(child) = &self.child {
            let _ = kill_process_group(Pid::from_raw(child.id() as i32).unwrap(), Signal::STOP);
        }
    }

    /// Undoes [`Instance::pause`].
    pub fn resume(&self) {
        if let Some(child) = &self.child {
            let _ = kill_process_group(Pid::from_raw(child.id() as i32).unwrap(), Signal::CONT);
        }
    }

    /// The process's log file, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    }

    /// Runs one command over a fresh plain connection (authenticated as configured) and
    /// returns the reply.
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> Reply {
        let stream = TcpStream::connect(("127.0.0.1", self.plain)).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        if !self.auth.is_empty() {
            let mut auth = vec!["AUTH"];
            auth.extend(self.auth.iter().map(String::as_str));
            write_command(&mut writer, &auth);
            let reply = read_reply(&mut reader);
            assert_eq!(reply, Reply::Simple("OK".into()), "AUTH");
        }
        write_command(&mut writer, args);
        read_reply(&mut reader)
    }

    /// Waits until `ready(self)` holds.
    pub fn wait_until(&self, what: &str, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !ready(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {PATIENCE:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}

/// The ports to listen on, written into `config`: (clients' port, the fixture's plain port,
/// TLS files). With `ca`, the clients' port is TLS with client certificates required, and
/// connections to other servers (replication, a sentinel's) use TLS and the same certificate.
fn listen(config: &mut String, dir: &Path, ca: Option<&Ca>) -> (u16, u16, Option<TlsFiles>) {
    let plain = free_port();
    *config += &format!("port {plain}\n");
    let Some(ca) = ca else {
        return (plain, plain, None);
    };
    let port = free_port();
    // Also the certificate it presents as a client (replication, sentinel).
    let leaf = Leaf::server().eku(vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ]);
    let (cert, key) = ca.issue(&leaf).write(dir, "server");
    let (client_cert, client_key) = ca.issue(&Leaf::client("repo-server")).write(dir, "client");
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, &ca.cert).unwrap();
    *config += &format!(
        "tls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
         tls-auth-clients yes\ntls-replication yes\n",
        cert.display(),
        key.display(),
        ca_file.display()
    );
    let files = TlsFiles {
        ca: ca_file,
        client_cert,
        client_key,
    };
    (port, plain, Some(files))
}

/// A master, one replica and three sentinels (quorum 2) watching them.
pub struct Group {
    pub master: Instance,
    pub replica: Instance,
    pub sentinels: Vec<Instance>,
}

impl Group {
    /// Replication up and every sentinel aware of the replica and of the other sentinels when
    /// this returns, so a failover can happen. `sentinel_password` protects the sentinels.
    /// With `options.tls`, one CA issues every certificate of the group.
    pub fn start(tools: &Tools, options: &Options, sentinel_password: Option<&str>) -> Self {
        let ca = options.tls.then(|| Ca::new("redis test CA"));
        let master = Instance::server_in(tools, options, ca.as_ref());
        let replica = Instance::server_in(
            tools,
            &Options {
                replica_of: Some(master.port),
                ..options.clone()
            },
            ca.as_ref(),
        );
        replica.wait_until("replica in sync", |r| {
            r.command(&["INFO", "replication"])
                .text()
                .contains("master_link_status:up")
        });
        let sentinels: Vec<Instance> = (0..3)
            .map(|_| Instance::sentinel(tools, &master, 2, sentinel_password, ca.as_ref()))
            .collect();
        for sentinel in &sentinels {
            sentinel.wait_until("sentinel sees the replica and its peers", |s| {
                let Reply::Array(Some(fields)) = s.command(&["SENTINEL", "MASTER", MASTER]) else {
                    return false;
                };
                let field = |name: &str| {
                    fields
                        .chunks(2)
                        .find(|kv| kv[0].text() == name)
                        .map(|kv| kv[1].text())
                        .unwrap_or_default()
                };
                field("num-slaves") == "1" && field("num-other-sentinels") == "2"
            });
        }
        Self {
            master,
            replica,
            sentinels,
        }
    }

    /// The port of the master the sentinels currently report.
    pub fn master_port(&self) -> u16 {
        match self.sentinels[0].command(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER]) {
            Reply::Array(Some(addr)) => addr[1].text().parse().unwrap(),
            other => panic!("no master: {other:?}"),
        }
    }

    /// The sentinels' addresses.
    pub fn hosts(&self) -> Vec<(String, u16)> {
        self.sentinels
            .iter()
            .map(|s| ("127.0.0.1".to_string(), s.port))
            .collect()
    }
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// A string-like reply as text (lossy); empty for the others.
    pub fn text(&self) -> String {
        match self {
            Self::Simple(s) | Self::Error(s) => s.clone(),
            Self::Int(n) => n.to_string(),
            Self::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    }
}

fn write_command<A: AsRef<[u8]>>(w: &mut impl Write, args: &[A]) {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    w.write_all(&out).unwrap();
}

fn read_reply(r: &mut impl BufRead) -> Reply {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" => Reply::Simple(rest.into()),
        "-" => Reply::Error(rest.into()),
        ":" => Reply::Int(rest.parse().unwrap()),
        "$" => {
            let Ok(n) = usize::try_from(rest.parse::<i64>().unwrap()) else {
                return Reply::Bulk(None);
            };
            let mut data = vec![0; n + 2];
            r.read_exact(&mut data).unwrap();
            data.truncate(n);
            Reply::Bulk(Some(data))
        }
        "*" => {
            let Ok(n) = usize::try_from(rest.parse::<i64>().unwrap()) else {
                return Reply::Array(None);
            };
            Reply::Array(Some((0..n).map(|_| read_reply(r)).collect()))
        }
        other => panic!("not RESP: {other}{rest}"),
    }
}
