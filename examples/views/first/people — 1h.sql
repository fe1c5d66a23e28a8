select p.id, p.name, s.name as shop, s.city, s.country
from first.people_raw p
left join first.shops s on s.id = p.shop_id
