create table first.countries (
    country text,
    cities int,
    size_class text
)
