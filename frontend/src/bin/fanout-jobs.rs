//! The jobs page's binary (`/?mode=jobs`, `/?job=ID`).

fn main() {
    fanout_frontend::jobs();
}
