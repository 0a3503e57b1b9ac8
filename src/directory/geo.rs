//! Outcode centroids, for "near HD1": reading the CSV files they come in.
//!
//! Invariant: a file is read whole and checked before anything is written;
//! one bad row refuses the file, naming the row.

use std::collections::HashSet;

/// Why an outcode file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct GeoError {
    pub location: String,
    pub message: String,
}

/// Reads `outcode,lat,lon[,...]` rows (a header row first); outcodes come
/// back in capitals.
pub fn parse_outcodes(text: &str) -> Result<Vec<(String, f64, f64)>, GeoError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let fail = |location: String, message: String| GeoError { location, message };
    let headers = reader
        .headers()
        .map_err(|e| fail("line 1".into(), format!("cannot read the header row: {e}")))?
        .clone();
    let column = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.contains(&h.to_ascii_lowercase().as_str()))
    };
    let (Some(code), Some(lat), Some(lon)) = (
        column(&["outcode", "postcode", "pcd"]),
        column(&["lat", "latitude"]),
        column(&["lon", "long", "longitude", "lng"]),
    ) else {
        return Err(fail(
            "line 1".into(),
            "the header row needs outcode, lat and lon columns (such as \"outcode,lat,lon\")"
                .into(),
        ));
    };
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for (index, record) in reader.records().enumerate() {
        let line = format!("line {}", index + 2);
        let record = record.map_err(|e| fail(line.clone(), e.to_string()))?;
        let outcode = record.get(code).unwrap_or("").to_ascii_uppercase();
        let valid_code = (2..=4).contains(&outcode.len())
            && outcode.chars().all(|c| c.is_ascii_alphanumeric())
            && outcode.starts_with(|c: char| c.is_ascii_alphabetic());
        if !valid_code {
            return Err(fail(
                line,
                format!("\"{outcode}\" is not an outcode such as HD1"),
            ));
        }
        let number = |column: usize, name: &str, range: std::ops::RangeInclusive<f64>| {
            let text = record.get(column).unwrap_or("");
            match text.parse::<f64>() {
                Ok(value) if range.contains(&value) => Ok(value),
                Ok(value) => Err(fail(
                    line.clone(),
                    format!("{outcode}: {name} {value} is out of range"),
                )),
                Err(_) => Err(fail(
                    line.clone(),
                    format!("{outcode}: {name} \"{text}\" is not a number"),
                )),
            }
        };
        let latitude = number(lat, "latitude", -90.0..=90.0)?;
        let longitude = number(lon, "longitude", -180.0..=180.0)?;
        if !seen.insert(outcode.clone()) {
            return Err(fail(line, format!("{outcode} appears twice")));
        }
        rows.push((outcode, latitude, longitude));
    }
    if rows.is_empty() {
        return Err(fail("line 2".into(), "the file has no rows".into()));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcodes_are_read_in_capitals_with_their_centres() {
        let rows = parse_outcodes("outcode,lat,lon,n_postcodes\nhd1,53.64,-1.78,900\n").unwrap();
        assert_eq!(rows, vec![("HD1".to_owned(), 53.64, -1.78)]);
    }

    #[test]
    fn bad_rows_are_refused_with_their_line() {
        let err = parse_outcodes("outcode,lat,lon\nHD1,53.6,-1.7\nHD2,93.1,-1.7\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: HD2: latitude 93.1 is out of range"
        );
        let err = parse_outcodes("outcode,lat,lon\nHD1,x,-1.7\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: HD1: latitude \"x\" is not a number"
        );
        let err = parse_outcodes("code,y,x\n").unwrap_err();
        assert!(err.to_string().starts_with("line 1: the header row needs"));
        let err = parse_outcodes("outcode,lat,lon\nHD1,1,1\nhd1,1,1\n").unwrap_err();
        assert_eq!(err.to_string(), "line 3: HD1 appears twice");
    }

    #[test]
    fn the_real_centroid_file_loads() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/data/postcodes/outcode_centroids_gb.csv"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipped: ../shared/data is absent");
            return;
        };
        let rows = parse_outcodes(&text).unwrap();
        assert!(rows.len() > 2900, "{}", rows.len());
        assert!(rows.iter().any(|(code, ..)| code == "HD1"));
    }
}
