-- No interval in the file name: shops is kept as fresh as first.people needs it.
select s.id, s.name, s.city, c.country
from first.shops_raw s
join first.cities c on c.city = s.city
