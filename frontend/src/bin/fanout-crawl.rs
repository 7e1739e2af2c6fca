//! The crawl page's binary (`/?mode=crawl`).

fn main() {
    fanout_frontend::crawl();
}
