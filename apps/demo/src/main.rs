fn main() { println!("demo: being written"); }
