//! Subcommands for the node-path tests (logs, exec, attach).

use std::io::Write;
use std::time::Duration;

/// `print-lines COUNT INTERVAL [--exit CODE]`: `run <random id>` (so two runs differ),
/// then `line 1` … `line COUNT` on stdout, INTERVAL seconds apart; then exits with CODE or
/// waits for SIGTERM.
pub fn print_lines(args: &[&str]) -> Result<Option<u8>, String> {
    super::sys::exit_on_term();
    let count: u32 = args
        .first()
        .and_then(|c| c.parse().ok())
        .ok_or("usage: print-lines COUNT INTERVAL [--exit CODE]")?;
    let interval = super::seconds(args.get(1))?;
    let exit = match args.iter().position(|a| *a == "--exit") {
        Some(i) => Some(
            args.get(i + 1)
                .and_then(|c| c.parse::<u8>().ok())
                .ok_or("--exit wants a code 0-255")?,
        ),
        None => None,
    };
    let id = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
    let mut out = std::io::stdout();
    let _ = writeln!(out, "run {}", id.trim());
    let _ = out.flush();
    for i in 1..=count {
        let _ = writeln!(out, "line {i}");
        let _ = out.flush();
        if i < count {
            std::thread::sleep(interval);
        }
    }
    match exit {
        Some(code) => Ok(Some(code)),
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
}

/// `cat` without files: stdin to stdout until end of input (a TTY's ^D included).
pub fn copy_stdin() -> Result<(), String> {
    let mut input = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut buf = [0u8; 4096];
    loop {
        let n = std::io::Read::read(&mut input, &mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
}

/// `tty-size [S]`: after S seconds (a resize arrives shortly after the process starts),
/// `ROWS COLS` of the terminal on stdin.
pub fn tty_size(args: &[&str]) -> Result<(), String> {
    if !args.is_empty() {
        std::thread::sleep(super::seconds(args.first())?);
    }
    #[repr(C)]
    #[derive(Default)]
    struct Winsize {
        rows: u16,
        cols: u16,
        xpixel: u16,
        ypixel: u16,
    }
    extern "C" {
        fn ioctl(
            fd: std::os::raw::c_int,
            request: std::os::raw::c_ulong,
            ...
        ) -> std::os::raw::c_int;
    }
    const TIOCGWINSZ: std::os::raw::c_ulong = 0x5413;
    let mut ws = Winsize::default();
    // SAFETY: TIOCGWINSZ writes one winsize struct to the pointer, which is a live local.
    let rc = unsafe { ioctl(0, TIOCGWINSZ, &mut ws as *mut Winsize) };
    if rc != 0 {
        return Err("stdin is not a terminal".into());
    }
    println!("{} {}", ws.rows, ws.cols);
    Ok(())
}
