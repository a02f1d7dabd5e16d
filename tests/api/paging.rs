//! AIP-158 pagination, AIP-154 etags and AIP-155 request ids.
use crate::helpers::{TestApp, bad_fields, expect_code};
use crate::resources::create_anna;
use std::collections::BTreeSet;
use tally::proto::*;
use tonic::Code;

async fn pagination_across_250_items_has_no_duplicates_or_gaps(app: TestApp) {
    let mut client = app.influencers();
    let mut expected = BTreeSet::new();
    for i in 0..250 {
        // Ids deliberately not created in sorted order.
        let id = format!("inf-{:03}", (i * 37) % 250);
        client
            .create_influencer(app.req(CreateInfluencerRequest {
                influencer_id: id.clone(),
                influencer: Some(Influencer {
                    display_name: format!("Influencer {i}"),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await
            .unwrap();
        expected.insert(format!("influencers/{id}"));
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_influencers(app.req(ListInfluencersRequest {
                page_size: 30,
                page_token: token,
            }))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.influencers.len() <= 30);
        seen.extend(page.influencers.into_iter().map(|i| i.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 9);
    assert_eq!(seen.len(), 250, "no duplicates");
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "no gaps"
    );
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by id");

    // Default page size is 50; larger than the maximum is lowered, not refused.
    let page = client
        .list_influencers(app.req(ListInfluencersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.influencers.len(), 50);
    assert!(!page.next_page_token.is_empty());
    let page = client
        .list_influencers(app.req(ListInfluencersRequest {
            page_size: 5000,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.influencers.len(), 250);
    assert_eq!(page.next_page_token, "");

    assert_eq!(
        bad_fields(
            client
                .list_influencers(app.req(ListInfluencersRequest {
                    page_size: -1,
                    ..Default::default()
                }))
                .await
        ),
        ["page_size"]
    );
    assert_eq!(
        bad_fields(
            client
                .list_influencers(app.req(ListInfluencersRequest {
                    page_token: "not-a-token".into(),
                    ..Default::default()
                }))
                .await
        ),
        ["page_token"]
    );
}

async fn page_tokens_only_fit_their_own_query(app: TestApp) {
    create_anna(&app).await;
    let mut channels = app.channels();
    for i in 0..3 {
        channels
            .create_channel(app.req(CreateChannelRequest {
                channel: Some(Channel {
                    display_name: format!("Site {i}"),
                    platform: Platform::Website as i32,
                    account_id: format!("https://{i}.example"),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await
            .unwrap();
    }
    let page = channels
        .list_channels(app.req(ListChannelsRequest {
            page_size: 1,
            owner: "brand".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!page.next_page_token.is_empty());
    let reused = channels
        .list_channels(app.req(ListChannelsRequest {
            page_size: 1,
            owner: "influencers/anna".into(),
            page_token: page.next_page_token,
        }))
        .await;
    assert_eq!(bad_fields(reused), ["page_token"]);
}

async fn stale_etag_is_refused(app: TestApp) {
    let anna = create_anna(&app).await;
    let mut client = app.influencers();
    let first = client
        .update_influencer(app.req(UpdateInfluencerRequest {
            influencer: Some(Influencer {
                name: anna.name.clone(),
                display_name: "First".into(),
                etag: anna.etag.clone(),
                ..Default::default()
            }),
            update_mask: None,
        }))
        .await
        .unwrap()
        .into_inner();
    // A second writer still holding the old etag loses, and changes nothing.
    expect_code(
        client
            .update_influencer(app.req(UpdateInfluencerRequest {
                influencer: Some(Influencer {
                    name: anna.name.clone(),
                    display_name: "Second".into(),
                    etag: anna.etag.clone(),
                    ..Default::default()
                }),
                update_mask: None,
            }))
            .await,
        Code::Aborted,
    );
    expect_code(
        client
            .delete_influencer(app.req(DeleteInfluencerRequest {
                name: anna.name.clone(),
                etag: anna.etag.clone(),
            }))
            .await,
        Code::Aborted,
    );
    let now = client
        .get_influencer(app.req(GetInfluencerRequest {
            name: anna.name.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now, first);
    assert_eq!(
        bad_fields(
            client
                .delete_influencer(app.req(DeleteInfluencerRequest {
                    name: anna.name.clone(),
                    etag: "W/whatever".into()
                }))
                .await
        ),
        ["etag"]
    );
    client
        .delete_influencer(app.req(DeleteInfluencerRequest {
            name: anna.name,
            etag: first.etag,
        }))
        .await
        .unwrap();
}

async fn request_id_retry_returns_the_first_result(app: TestApp) {
    let mut client = app.segments();
    let request = || CreateSegmentRequest {
        request_id: "7b0c3a52-retry".into(),
        segment: Some(Segment {
            display_name: "Customers".into(),
            rule: "is_customer".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let first = client
        .create_segment(app.req(request()))
        .await
        .unwrap()
        .into_inner();
    let retry = client
        .create_segment(app.req(request()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        retry, first,
        "the retry returns the segment the first call made"
    );
    let list = client
        .list_segments(app.req(ListSegmentsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.segments.len(), 1, "and creates nothing");

    // Another request id creates another resource.
    let mut other = request();
    other.request_id = "another".into();
    let second = client
        .create_segment(app.req(other))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(second.name, first.name);

    let mut bad = request();
    bad.request_id = "has spaces".into();
    assert_eq!(
        bad_fields(client.create_segment(app.req(bad)).await),
        ["request_id"]
    );
}

crate::on_both_databases!(
    pagination_across_250_items_has_no_duplicates_or_gaps,
    page_tokens_only_fit_their_own_query,
    stale_etag_is_refused,
    request_id_retry_returns_the_first_result,
);
