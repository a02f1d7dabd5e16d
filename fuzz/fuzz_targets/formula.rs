//! The KPI formula parser on arbitrary text; a formula that parses prints back to a text
//! that parses to the same formula (unless the canonical text outgrows the length limit),
//! and is evaluated with arbitrary input values, which must never give an infinite or NaN
//! value.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tally::domain::formula;
use tally::kpi::value::Reason;

#[derive(Arbitrary, Debug)]
enum Input {
    Number(f64),
    NoData,
    ZeroDenominator,
    OutsideCampaign,
    NotReported,
}

#[derive(Arbitrary, Debug)]
struct Case<'a> {
    text: &'a str,
    values: Vec<Input>,
}

fuzz_target!(|case: Case<'_>| {
    let parsed = match formula::parse(case.text) {
        Ok(parsed) => parsed,
        Err(e) => {
            // Every error names a position inside the text (or just past its end).
            assert!(e.offset <= case.text.chars().count(), "{e:?}");
            assert!(e.line >= 1 && e.column >= 1, "{e:?}");
            return;
        }
    };
    let printed = parsed.to_string();
    match formula::parse(&printed) {
        Ok(reparsed) => assert_eq!(parsed, reparsed, "{printed}"),
        // Documented: the canonical text adds spaces, so near the limit it can outgrow it
        // (the service stores the client's text, which always parses again).
        Err(e) if printed.len() > formula::MAX_FORMULA_BYTES => {
            assert!(e.message.contains("at most"), "{e:?}");
            assert_eq!(formula::parse(parsed.text()).as_ref(), Ok(&parsed));
        }
        Err(e) => panic!("the printed formula {printed:?} does not parse: {e:?}"),
    }
    // Each name gets the next input in turn; inputs are finite, as `Value` promises.
    let mut next = 0;
    let mut lookup = |_: &str| {
        let input = case.values.get(next % case.values.len().max(1));
        next += 1;
        match input {
            Some(Input::Number(n)) if n.is_finite() => Ok(*n),
            Some(Input::Number(_)) | None => Ok(1.0),
            Some(Input::NoData) => Err(Reason::NoData),
            Some(Input::ZeroDenominator) => Err(Reason::ZeroDenominator),
            Some(Input::OutsideCampaign) => Err(Reason::OutsideCampaign),
            Some(Input::NotReported) => Err(Reason::NotReported),
        }
    };
    if let Ok(value) = parsed.evaluate(&mut lookup) {
        assert!(value.is_finite(), "{printed} gave {value}");
    }
});
