/* placeholder: replaced by the real main shortly */
int main(void)
{
    return 0;
}
