//! The CPU of validating one influencer with 100,000 distinct tags (0.7 MB), the case
//! that was quadratic (issue 20 item 7):
//! `cargo build --release --example tags_cpu && /usr/bin/time -f "%U s user"
//! target/release/examples/tags_cpu`.
fn main() {
    let mut influencer = tally::domain::influencer::Influencer {
        display_name: "Anna".into(),
        tags: (0..100_000).map(|i| format!("tag{i}")).collect(),
        ..Default::default()
    };
    let result = influencer.validate();
    match result {
        Err(tally::domain::DomainError::Invalid(v)) => {
            println!("{} violation(s), first on {}", v.len(), v[0].field)
        }
        Ok(()) => println!("accepted"),
    }
    // Read the result, so that the optimiser cannot drop the work that produced it.
    println!("{} tags kept", std::hint::black_box(&influencer).tags.len());
}
