fn main() {
    for x in [0.5f64, 0.1, 1.5, 3.3, 7.7, 9.99, 10.0, 25.0] {
        println!("{x} {:.17e}", ppl_dist::special::ln_gamma(x));
    }
}
