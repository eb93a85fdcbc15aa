fn main() {
    std::process::exit(arcfix::run(std::env::args_os()));
}
