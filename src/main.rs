fn main() -> std::process::ExitCode {
    hybrid_dns::cli::main()
}
