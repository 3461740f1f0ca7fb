from feedback_bot.refs import decode_ref, encode_ref


def test_references_are_short_unique_and_reversible():
    seen = set()
    for row_id in [*range(1, 3000), 32**4 - 1, 32**4, 32**4 + 1, 32**5 + 32**4 + 7]:
        ref = encode_ref(row_id)
        assert ref not in seen
        seen.add(ref)
        assert decode_ref(ref) == row_id
        assert decode_ref(ref.lower()) == row_id
    assert len(encode_ref(1)) == 4
    assert len(encode_ref(32**4 + 1)) == 5


def test_reading_mistakes_are_forgiven_and_nonsense_refused():
    ref = encode_ref(42)
    assert decode_ref(ref.replace("0", "O").replace("1", "I")) == 42
    assert decode_ref("K7") is None
    assert decode_ref("") is None


def test_words_that_are_not_references_decode_to_nothing_storable():
    for word in ("elevator", "ELEVATORS", "zzzzzzz"):
        row_id = decode_ref(word)
        assert row_id is None or row_id <= 2**31 - 1
