select (city = 'Paris') as correct_capital_of_france from first.cities where country = 'France';
