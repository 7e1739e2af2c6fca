//! The run history's binary (`/?mode=history`).

fn main() {
    fanout_frontend::history();
}
