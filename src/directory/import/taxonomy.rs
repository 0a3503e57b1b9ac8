//! From publishers' taxonomy terms to the categories people search by.
//!
//! Publishers classify services with taxonomy terms (Open Eligibility, their
//! own lists, ORUK audience types); people using the bot choose one of our
//! twelve [`Category`]s. This is the mapping between them.
//!
//! Invariant: matching is exact after normalising case, spaces, hyphens,
//! underscores and a trailing `+` ("LGBTQ+ " is "lgbtq"), never by
//! substring, because "Credit Counseling" must not land in mental wellbeing
//! just because "Counseling" does.

use std::collections::BTreeSet;

use crate::search::Category;

/// Open Eligibility (v2) term names for each category, as the taxonomy
/// writes them. A test checks every name against `taxonomy.xml`.
///
/// Open Eligibility has no term for volunteering or physical activity;
/// those come only from [`OTHER_NAMES`] and our own slugs.
pub const OPEN_ELIGIBILITY: &[(Category, &[&str])] = &[
    (
        Category::Befriending,
        &["One-on-One Support", "Home Visiting"],
    ),
    (Category::SocialGroups, &["Recreation"]),
    (
        Category::PeerSupport,
        &["Peer Support", "Support Network", "Support Groups"],
    ),
    (Category::Bereavement, &["Bereavement", "Grieving"]),
    (Category::Carers, &["Caregivers", "Relief for Caregivers"]),
    (
        Category::MentalWellbeing,
        &["Counseling", "Understand Mental Health", "Mental Illness"],
    ),
    (Category::OlderPeople, &["Seniors", "Retirement"]),
    (Category::YoungPeople, &["Teens"]),
    (Category::Lgbtq, &["LGBTQ", "Transgender"]),
    (Category::PhoneOnline, &["Help Hotlines", "Virtual Support"]),
    (Category::Volunteering, &[]),
    (Category::PhysicalActivity, &[]),
];

/// Open Eligibility codes (the `id` of each term in `taxonomy.xml`) for the
/// names above, so a term given only by its code still maps. Some names are
/// in the taxonomy twice, under different parents.
const OPEN_ELIGIBILITY_CODES: &[(&str, &str)] = &[
    ("1309", "One-on-One Support"),
    ("1306", "Home Visiting"),
    ("1285", "Recreation"),
    ("1310", "Peer Support"),
    ("1303", "Support Network"),
    ("1312", "Support Groups"),
    ("1186", "Bereavement"),
    ("1288", "Bereavement"),
    ("1314", "Bereavement"),
    ("20030", "Grieving"),
    ("20073", "Caregivers"),
    ("1286", "Relief for Caregivers"),
    ("1304", "Counseling"),
    ("1220", "Counseling"),
    ("1198", "Understand Mental Health"),
    ("1340", "Understand Mental Health"),
    ("20025", "Mental Illness"),
    ("20051", "Mental Illness"),
    ("20006", "Seniors"),
    ("20033", "Retirement"),
    ("20004", "Teens"),
    ("20078", "LGBTQ"),
    ("20038", "Transgender"),
    ("1305", "Help Hotlines"),
    ("1316", "Virtual Support"),
];

/// Everyday and UK words for each category, as they turn up in term names,
/// ORUK audience types ("Bereaved", "LGBTQ+", "Carers") and ORUK delivery
/// types ("Social activity", "Peer group").
pub const OTHER_NAMES: &[(Category, &[&str])] = &[
    (
        Category::Befriending,
        &[
            "befriending",
            "befriender",
            "befrienders",
            "companionship",
            "friendship",
        ],
    ),
    (
        Category::SocialGroups,
        &[
            "social activity",
            "social activities",
            "social group",
            "social groups",
            "social club",
            "lunch club",
            "coffee morning",
            "community group",
        ],
    ),
    (
        Category::PeerSupport,
        &[
            "peer support",
            "peer group",
            "support group",
            "self help group",
            "mutual aid",
        ],
    ),
    (
        Category::Bereavement,
        &["bereaved", "bereavement", "grief", "loss"],
    ),
    (
        Category::Carers,
        &["carer", "carers", "young carers", "caregiver", "caring"],
    ),
    (
        Category::MentalWellbeing,
        &[
            "mental health",
            "mental wellbeing",
            "wellbeing",
            "counselling",
            "emotional support",
        ],
    ),
    (
        Category::OlderPeople,
        &[
            "older people",
            "older adults",
            "elderly",
            "over 50s",
            "over 60s",
            "over 65s",
            "retired",
        ],
    ),
    (
        Category::YoungPeople,
        &[
            "young people",
            "young adults",
            "youth",
            "teenagers",
            "care leavers",
            "students",
        ],
    ),
    (
        Category::Lgbtq,
        &[
            "lgbt", "lgbtq", "lgbtqia", "lgbtqi", "gay", "lesbian", "bisexual", "trans", "queer",
        ],
    ),
    (
        Category::PhoneOnline,
        &[
            "phone",
            "telephone",
            "online",
            "helpline",
            "virtual",
            "video call",
        ],
    ),
    (
        Category::Volunteering,
        &[
            "volunteering",
            "volunteer",
            "volunteers",
            "volunteering opportunity",
        ],
    ),
    (
        Category::PhysicalActivity,
        &[
            "physical activity",
            "exercise",
            "sport",
            "sports",
            "fitness",
            "walking",
            "walks",
            "yoga",
            "dance",
        ],
    ),
];

/// The categories a taxonomy term stands for: by its name (Open Eligibility
/// names, everyday words, our own slugs such as "social-groups" or "Social
/// groups"), and by its code (an Open Eligibility id or one of our slugs).
/// A hierarchical name such as "Parents>Grandparents" also matches by each
/// part. Empty when nothing matches.
pub fn categories_for_term(name: &str, code: Option<&str>) -> BTreeSet<Category> {
    let mut found = BTreeSet::new();
    let mut candidates = vec![normalise(name)];
    candidates.extend(name.split(['>', '/']).map(normalise));
    if let Some(code) = code {
        let code = code.trim();
        candidates.push(normalise(code));
        for (oe_code, oe_name) in OPEN_ELIGIBILITY_CODES {
            if code.eq_ignore_ascii_case(oe_code) {
                candidates.push(normalise(oe_name));
            }
        }
    }
    for candidate in candidates.iter().filter(|c| !c.is_empty()) {
        for category in Category::ALL {
            if *candidate == normalise(category.slug()) {
                found.insert(category);
            }
        }
        for table in [OPEN_ELIGIBILITY, OTHER_NAMES] {
            for (category, names) in table {
                if names.iter().any(|n| normalise(n) == *candidate) {
                    found.insert(*category);
                }
            }
        }
    }
    found
}

/// Lower case, hyphens and underscores as spaces, one space between words,
/// no trailing `+` ("LGBTQ+"), `&amp;` as `&`.
fn normalise(text: &str) -> String {
    let text = text.replace("&amp;", "&").to_lowercase();
    let text = text.replace(['-', '_'], " ");
    let words: Vec<&str> = text.split_whitespace().collect();
    words.join(" ").trim_end_matches('+').trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAXONOMY_XML: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/taxonomies/openeligibility/taxonomy.xml"
    );

    /// Every (id, title) pair in the Open Eligibility file.
    fn open_eligibility_terms(xml: &str) -> Vec<(String, String)> {
        let pattern =
            regex::Regex::new(r#"id=['"](\d+)['"]\s+title="([^"]*)""#).expect("pattern compiles");
        pattern
            .captures_iter(xml)
            .map(|c| (c[1].to_string(), c[2].replace("&amp;", "&")))
            .collect()
    }

    #[test]
    fn every_open_eligibility_name_and_code_we_map_is_in_the_taxonomy() {
        let Ok(xml) = std::fs::read_to_string(TAXONOMY_XML) else {
            eprintln!("skipped: ../shared/data is absent");
            return;
        };
        let terms = open_eligibility_terms(&xml);
        assert!(terms.len() > 200, "read only {} terms", terms.len());
        for (category, names) in OPEN_ELIGIBILITY {
            for name in *names {
                assert!(
                    terms.iter().any(|(_, title)| title == name),
                    "{category}: \"{name}\" is not an Open Eligibility term"
                );
            }
        }
        for (code, name) in OPEN_ELIGIBILITY_CODES {
            assert!(
                terms.iter().any(|(id, title)| id == code && title == name),
                "Open Eligibility has no term {code} \"{name}\""
            );
        }
    }

    #[test]
    fn every_category_is_documented_once() {
        for table in [OPEN_ELIGIBILITY, OTHER_NAMES] {
            let listed: Vec<Category> = table.iter().map(|(c, _)| *c).collect();
            assert_eq!(listed, Category::ALL.to_vec());
        }
    }

    #[test]
    fn open_eligibility_names_map_whatever_their_case() {
        let one = |c| BTreeSet::from([c]);
        assert_eq!(
            categories_for_term("Peer Support", None),
            one(Category::PeerSupport)
        );
        assert_eq!(
            categories_for_term("support network", None),
            one(Category::PeerSupport)
        );
        assert_eq!(
            categories_for_term("BEREAVEMENT", None),
            one(Category::Bereavement)
        );
        assert_eq!(
            categories_for_term("Caregivers", None),
            one(Category::Carers)
        );
        assert_eq!(
            categories_for_term("Seniors", None),
            one(Category::OlderPeople)
        );
        assert_eq!(
            categories_for_term("Teens", None),
            one(Category::YoungPeople)
        );
        assert_eq!(categories_for_term("LGBTQ", None), one(Category::Lgbtq));
        assert_eq!(
            categories_for_term("Counseling", None),
            one(Category::MentalWellbeing)
        );
    }

    #[test]
    fn our_own_slugs_and_their_spoken_forms_map() {
        for category in Category::ALL {
            let slug = category.slug();
            assert_eq!(
                categories_for_term(slug, None),
                BTreeSet::from([category]),
                "{slug}"
            );
            let spoken = slug.replace('-', " ").to_uppercase();
            assert!(
                categories_for_term(&spoken, None).contains(&category),
                "{spoken}"
            );
            assert!(
                categories_for_term("x", Some(slug)).contains(&category),
                "code {slug}"
            );
        }
        assert!(categories_for_term("Social groups", None).contains(&Category::SocialGroups));
    }

    #[test]
    fn codes_map_when_the_name_does_not() {
        assert_eq!(
            categories_for_term("Something local", Some("1310")),
            BTreeSet::from([Category::PeerSupport])
        );
    }

    #[test]
    fn oruk_audience_and_delivery_types_map() {
        assert_eq!(
            categories_for_term("LGBTQ+ ", None),
            BTreeSet::from([Category::Lgbtq])
        );
        assert_eq!(
            categories_for_term("Bereaved", None),
            BTreeSet::from([Category::Bereavement])
        );
        assert_eq!(
            categories_for_term("Carers ", None),
            BTreeSet::from([Category::Carers])
        );
        assert_eq!(
            categories_for_term("Social activity", None),
            BTreeSet::from([Category::SocialGroups])
        );
        assert_eq!(
            categories_for_term("Physical activity", None),
            BTreeSet::from([Category::PhysicalActivity])
        );
    }

    #[test]
    fn similar_names_that_mean_something_else_do_not_map() {
        assert!(categories_for_term("Credit Counseling", None).is_empty());
        assert!(categories_for_term("Transportation", None).is_empty());
        assert!(categories_for_term("Foster Youth", None).is_empty());
        assert!(categories_for_term("", None).is_empty());
    }
}
