//! SegmentService.
use super::Api;
use super::convert;
use super::crud::{Resource, resource_service};
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::names::Collection;
use crate::domain::segment::Segment;
use crate::engine::resources::segments::{self, SegmentPatch};
use crate::engine::resources::{Checked, Create, Update};
use crate::proto;
use crate::proto::segment_service_server::SegmentService;

const SEGMENT: Resource = Resource {
    field: "segment",
    id_field: "segment_id",
    collection: Collection::Segments,
    updatable: &["display_name", "rule"],
};

fn to_proto(stored: &Stored<Segment>) -> proto::Segment {
    let s = &stored.spec;
    proto::Segment {
        name: Collection::Segments.name(&stored.id),
        display_name: s.display_name.clone(),
        rule: s.rule.clone(),
        // Stored rules were parsed when written; a rule that no longer parses (a grammar
        // change) is shown without a canonical form rather than failing the read.
        canonical_rule: crate::domain::segment_rule::parse(&s.rule)
            .map(|r| r.to_string())
            .unwrap_or_default(),
        create_time: convert::timestamp(stored.create_time),
        update_time: convert::timestamp(stored.update_time),
        etag: stored.etag(),
    }
}

impl TryFrom<proto::CreateSegmentRequest> for Checked<Create<Segment>> {
    type Error = ApiError;

    fn try_from(req: proto::CreateSegmentRequest) -> Result<Self, ApiError> {
        let mut problems = Problems::default();
        let ids = SEGMENT.create_ids(&mut problems, &req.segment_id, &req.request_id);
        let msg = problems.required(req.segment, "segment");
        let spec = Segment {
            display_name: msg.display_name,
            rule: msg.rule,
        };
        SEGMENT.create(ids, spec, problems)
    }
}

impl TryFrom<proto::UpdateSegmentRequest> for Checked<Update<SegmentPatch>> {
    type Error = ApiError;

    fn try_from(req: proto::UpdateSegmentRequest) -> Result<Self, ApiError> {
        let (msg, target, problems) = SEGMENT.updating(
            req.segment,
            req.update_mask.as_ref(),
            |m| (m.name.as_str(), m.etag.as_str()),
            |m| {
                [
                    ("display_name", !m.display_name.is_empty()),
                    ("rule", !m.rule.is_empty()),
                ]
                .into_iter()
                .filter_map(|(f, set)| set.then_some(f))
                .collect()
            },
        )?;
        let patch = SegmentPatch {
            display_name: target
                .mask
                .has("display_name")
                .then(|| msg.display_name.clone()),
            rule: target.mask.has("rule").then(|| msg.rule.clone()),
        };
        SEGMENT.update(target, patch, problems)
    }
}

resource_service! {
    SegmentService for SEGMENT, segments, Segment {
        create_segment(CreateSegmentRequest),
        get_segment(GetSegmentRequest),
        list_segments(ListSegmentsRequest) -> ListSegmentsResponse { segments },
        update_segment(UpdateSegmentRequest),
        delete_segment(DeleteSegmentRequest),
    }
}
