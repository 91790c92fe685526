//! Checked against AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite, as shipped
//! with the AWS SDKs' signers, e.g. awslabs/aws-c-auth tests/aws-signing-test-suite/v4). Every case
//! uses the suite's credentials, region, service and clock.

use super::*;
use time::macros::datetime;

const SUITE_TIME: OffsetDateTime = datetime!(2015-08-30 12:36:00 UTC);
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SUITE_SESSION_TOKEN: &str = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";

fn creds(token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: token.map(str::to_owned),
    }
}

/// Signs a suite request. The suite's `.req` files carry `Host` and `X-Amz-Date` headers; they are
/// passed through as a client would.
fn suite(
    method: &str,
    target: &str,
    extra_headers: &[(&str, &str)],
    body: &str,
    token: Option<&str>,
    sha_header: bool,
) -> Signature {
    let mut headers: Vec<(String, String)> =
        vec![("Host".into(), "example.amazonaws.com".into()), ("X-Amz-Date".into(), "20150830T123600Z".into())];
    headers.extend(extra_headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    let url = format!("https://example.amazonaws.com{target}");
    let req = Request { method, url: &url, headers: &headers, body: body.as_bytes() };
    let options = SignOptions { content_sha256_header: sha_header };
    sign_with(&req, &creds(token), "us-east-1", "service", SUITE_TIME, options).unwrap()
}

fn authz(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

fn sts(canonical_request_hash: &str) -> String {
    format!("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{canonical_request_hash}")
}

#[test]
fn get_vanilla() {
    let s = suite("GET", "/", &[], "", None, false);
    assert_eq!(
        s.canonical_request,
        format!("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_SHA256}")
    );
    assert_eq!(s.string_to_sign, sts("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"));
    assert_eq!(
        s.authorization,
        authz("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    );
}

#[test]
fn post_vanilla() {
    let s = suite("POST", "/", &[], "", None, false);
    assert_eq!(
        s.canonical_request,
        format!(
            "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_SHA256}"
        )
    );
    assert_eq!(s.string_to_sign, sts("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"));
    assert_eq!(
        s.authorization,
        authz("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
    );
}

#[test]
fn post_x_www_form_urlencoded() {
    let s = suite("POST", "/", &[("Content-Type", "application/x-www-form-urlencoded")], "Param1=value1", None, false);
    assert_eq!(
        s.canonical_request,
        "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
         content-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    );
    assert_eq!(s.string_to_sign, sts("42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"));
    assert_eq!(
        s.authorization,
        authz("content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")
    );
}

/// The later edition of the same case signs the body hash header too, which is the Bedrock mode.
#[test]
fn post_x_www_form_urlencoded_with_content_sha256_header() {
    let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "13")];
    let s = suite("POST", "/", &headers, "Param1=value1", None, true);
    assert_eq!(
        s.authorization,
        authz(
            "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
            "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
        )
    );
    assert!(s.headers.contains(&(
        "x-amz-content-sha256".into(),
        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e".into()
    )));
}

#[test]
fn get_vanilla_with_session_token() {
    let s = suite("GET", "/", &[], "", Some(SUITE_SESSION_TOKEN), false);
    assert_eq!(
        s.authorization,
        authz(
            "host;x-amz-date;x-amz-security-token",
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        )
    );
    assert!(s.headers.contains(&("x-amz-security-token".into(), SUITE_SESSION_TOKEN.into())));
}

#[test]
fn get_vanilla_query_order_encoded() {
    let s = suite("GET", "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1", &[], "", None, false);
    assert_eq!(
        s.canonical_request,
        format!("GET\n/\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_SHA256}")
    );
    assert_eq!(s.string_to_sign, sts("868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71"));
    assert_eq!(s.signature, "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac");
}

#[test]
fn get_header_value_trim() {
    let s = suite("GET", "/", &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")], "", None, false);
    assert_eq!(
        s.canonical_request,
        format!("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n{EMPTY_SHA256}")
    );
    assert_eq!(s.signature, "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

/// Cases where only the published signature is quoted: path normalisation and encoding, query order.
#[test]
fn published_signatures() {
    let unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let cases = [
        ("get-utf8", "/\u{1234}".to_string(), "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        (
            "get-space-normalized",
            "/example space/".into(),
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
        ),
        (
            "get-slashes-normalized",
            "//example//".into(),
            "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
        ),
        (
            "get-relative-relative-normalized",
            "/example1/example2/../..".into(),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "get-vanilla-query-order-key-case",
            "/?Param2=value2&Param1=value1".into(),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        (
            "get-vanilla-query-unreserved",
            format!("/?{unreserved}={unreserved}"),
            "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        ),
        (
            "get-vanilla-utf8-query",
            "/?\u{1234}=bar".into(),
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        ),
    ];
    for (name, target, signature) in cases {
        assert_eq!(suite("GET", &target, &[], "", None, false).signature, signature, "{name}");
    }
}

#[test]
fn bedrock_paths_are_encoded_twice() {
    let url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
    let req = Request { method: "POST", url, headers: &headers, body };
    let s = sign_with(&req, &creds(Some("tok")), "us-east-1", "bedrock", SUITE_TIME, SignOptions::default()).unwrap();
    let lines: Vec<&str> = s.canonical_request.lines().collect();
    assert_eq!(lines[1], "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse");
    assert_eq!(lines[3], "content-type:application/json");
    assert_eq!(lines[4], "host:bedrock-runtime.us-east-1.amazonaws.com");
    assert!(s.authorization.contains("/20150830/us-east-1/bedrock/aws4_request, "));
    assert!(s
        .authorization
        .contains("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));

    let plain = sign(&req, &creds(Some("tok")), "us-east-1", "bedrock", SUITE_TIME).unwrap();
    let names: Vec<&str> = plain.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"]);
    assert_eq!(plain, s.headers);
}

#[test]
fn hosts_and_targets() {
    let host = |url: &str| split_url(url).host;
    assert_eq!(host("https://Example.com:443/x"), Some("example.com".into()));
    assert_eq!(host("http://localhost:9000/x?y"), Some("localhost:9000".into()));
    assert_eq!(host("http://user@h:80"), Some("h".into()));
    assert_eq!(host("/only/a/path"), None);
    let parts = split_url("https://h?a=1#frag");
    assert_eq!((parts.path, parts.query), ("", "a=1"));
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/a/./b/../c/"), "/a/c/");
    assert_eq!(canonical_uri("/a/."), "/a/");
    assert_eq!(canonical_uri("/a/b/.."), "/a/");
    assert_eq!(canonical_query("b=2&a=&a=1&&c"), "a=&a=1&b=2&c=");
    assert_eq!(canonical_query("q=a+b"), "q=a%2Bb");
}

#[test]
fn a_target_without_host_needs_a_host_header() {
    let req = Request { method: "GET", url: "/x", headers: &[], body: b"" };
    assert_eq!(sign(&req, &creds(None), "r", "s", SUITE_TIME), Err(SignError::NoHost("/x".into())));
    let headers = vec![("Host".to_string(), "example.amazonaws.com".to_string())];
    let req = Request { method: "GET", url: "/", headers: &headers, body: b"" };
    let s =
        sign_with(&req, &creds(None), "us-east-1", "service", SUITE_TIME, SignOptions { content_sha256_header: false })
            .unwrap();
    assert_eq!(s.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

#[test]
fn credentials_do_not_print_secrets() {
    let shown = format!("{:?}", creds(Some("token-secret")));
    assert!(shown.contains("AKIDEXAMPLE"));
    assert!(!shown.contains("wJalr") && !shown.contains("token-secret"));
}

#[test]
fn non_utc_times_are_converted() {
    let local = datetime!(2015-08-30 14:36:00 +02:00);
    let headers = vec![("Host".to_string(), "example.amazonaws.com".to_string())];
    let req = Request { method: "GET", url: "https://example.amazonaws.com/", headers: &headers, body: b"" };
    let s = sign_with(&req, &creds(None), "us-east-1", "service", local, SignOptions { content_sha256_header: false })
        .unwrap();
    assert_eq!(s.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

/// The signed request AWS publishes for get-vanilla-with-session-token, as a server receives it.
#[test]
fn verifies_the_published_signed_request() {
    let headers: Vec<(String, String)> = [
        ("Host", "example.amazonaws.com"),
        ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"),
        ("X-Amz-Date", "20150830T123600Z"),
        ("X-Amz-Security-Token", SUITE_SESSION_TOKEN),
        ("User-Agent", "not signed, so ignored"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let req = Request { method: "GET", url: "/", headers: &headers, body: b"" };
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let ok = verify(&req, secret, "us-east-1", "service").unwrap();
    assert_eq!(ok, Verified { access_key_id: "AKIDEXAMPLE".into(), time: SUITE_TIME });
    assert_eq!(verify(&req, "wrong", "us-east-1", "service"), Err(VerifyError::Mismatch));
    assert!(matches!(verify(&req, secret, "eu-west-1", "service"), Err(VerifyError::WrongScope(_))));
}

#[test]
fn a_signed_bedrock_call_verifies_and_tampering_does_not() {
    let url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m%3A0/converse-stream";
    let body = br#"{"messages":[]}"#;
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    let req = Request { method: "POST", url, headers: &headers, body };
    let added = sign(&req, &creds(Some("tok")), "us-east-1", "bedrock", SUITE_TIME).unwrap();
    headers.extend(added);
    headers.push(("host".into(), "bedrock-runtime.us-east-1.amazonaws.com".into()));
    let received = Request { method: "POST", url: "/model/m%3A0/converse-stream", headers: &headers, body };
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    assert!(verify(&received, secret, "us-east-1", "bedrock").is_ok());
    let tampered = Request { body: br#"{"messages":[1]}"#, ..received };
    assert_eq!(verify(&tampered, secret, "us-east-1", "bedrock"), Err(VerifyError::Mismatch));
    let other_path = Request { url: "/model/m%3A1/converse-stream", ..received };
    assert_eq!(verify(&other_path, secret, "us-east-1", "bedrock"), Err(VerifyError::Mismatch));
    let unsigned = Request { headers: &headers[..1], ..received };
    assert_eq!(verify(&unsigned, secret, "us-east-1", "bedrock"), Err(VerifyError::Malformed("authorization")));
}
