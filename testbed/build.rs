//! Compiles the C shim against Debian's Berkeley DB 5.3 (`libdb5.3-dev`) and links `libdb-5.3`.

fn main() {
    println!("cargo:rerun-if-changed=csrc/ttdb.c");
    let header = ["/usr/include/db.h", "/usr/include/db5.3/db.h"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .copied();
    let Some(header) = header else {
        panic!(
            "\n\nttfs-sim needs Berkeley DB 5.3's headers (db.h), which are not installed.\n\
             On Debian/Ubuntu run:  sudo apt-get install -y libdb5.3-dev db5.3-util\n\n"
        );
    };
    let include = std::path::Path::new(header).parent().unwrap();
    cc::Build::new()
        .file("csrc/ttdb.c")
        .include(include)
        .warnings(true)
        .compile("ttdb");
    println!("cargo:rustc-link-lib=db-5.3");
}
